"""A newcomer follows what `sandbox serve` prints, line by line, to a working `ping`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port_base() -> int:
    for _ in range(50):
        socks = []
        try:
            first = socket.socket()
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
            socks.append(first)
            if base > 65530:
                continue
            for offset in (1, 2):
                s = socket.socket()
                s.bind(("127.0.0.1", base + offset))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no three free consecutive ports")


@pytest.mark.slow
def test_the_printed_connect_lines_and_snippet_lead_to_a_working_ping(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    env["ML_CONNECTOR_HOME"] = str(tmp_path / "home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        [sys.executable, "-m", "ml_connector", "sandbox", "serve", "--port-base", str(_free_port_base()), "--time-scale", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        printed = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line, "sandbox serve ended early: " + server.stderr.read()
            if line.startswith("Serving until"):
                break
            printed.append(line.rstrip("\n"))
        text = "\n".join(printed)
        commands = [line.strip() for line in printed if line.startswith("  ") and "ml-connector " in line]
        assert len(commands) == 5, text
        snippet = text[text.index("time_scale = ") :]
        subprocess.run(
            [sys.executable, "-m", "ml_connector", "init"], env=env, check=True, capture_output=True
        )
        (tmp_path / "home" / "config.toml").write_text(snippet + "\n", encoding="utf-8")
        for command in commands:
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            assert not re.search(r"Traceback|Error:", done.stdout + done.stderr)
        ping = subprocess.run(
            [sys.executable, "-m", "ml_connector", "ping"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        for line in (
            "sandbox-us amazon: ok",
            "sandbox-us m3: ok",
            "sandbox-uk amazon: ok",
            "sandbox-uk acumatica: ok",
        ):
            assert line in ping.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
