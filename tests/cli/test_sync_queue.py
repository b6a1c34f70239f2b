"""`sync FLOW --queue`: the run is done by a worker of the PostgreSQL queue; `sync` waits, says what it
waits for, and prints the same summary an inline `sync` prints. On SQLite: one line saying why not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from ml_connector.executors import results
from ml_connector.sandbox.deployment import M3_CONNECTION, SandboxDeployment

CLI = [sys.executable, "-m", "ml_connector"]

CONFIG = """
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
[connections.m3]
company = "100"
division = "AAA"
"""


def test_queue_on_sqlite_is_one_line_saying_it_needs_postgresql(ml_home, run_cli):
    (ml_home / "config.toml").write_text(CONFIG, "utf-8")
    result = run_cli("sync", "orders", "--queue")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--queue needs the PostgreSQL store" in lines[0] and "without --queue" in lines[0]
    assert "Traceback" not in result.output
    assert not (ml_home / "store.sqlite3").exists() or result.stdout == ""


@pytest.mark.postgres
def test_sync_queue_waits_for_a_worker_and_prints_the_runs_summary(tmp_path, postgres_url):
    with SandboxDeployment(home=tmp_path / "home", store_url=postgres_url, order_count=30) as deployment:
        worker = subprocess.Popen(
            [*CLI, "worker", "--concurrency", "2", "--dispatch-every", "1"],
            env=dict(os.environ),
            stdout=(tmp_path / "worker.out").open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            done = subprocess.run(
                [*CLI, "sync", "orders", "--queue", "--connection", M3_CONNECTION],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=240,
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker_code = worker.wait(timeout=120)
        log = (tmp_path / "worker.out").read_text()
        store = deployment.open_store()
        try:
            kept = json.loads(store.get_cursor(M3_CONNECTION, "queued-run:orders"))
            summary = results.read(store, M3_CONNECTION, "orders", kept["job"])
        finally:
            store.close()
        orders = Counter(order["head"]["CUOR"] for order in deployment.state("m3").orders())

    assert summary is not None, done.stdout + done.stderr + log[-2000:]
    # the exit code an inline sync gives: 1 when a record failed (the sandbox has unmapped SKUs)
    assert done.returncode == (1 if summary.counts.get("failed") else 0), done.stdout + done.stderr
    assert worker_code == 0, log[-2000:]
    assert "Traceback" not in done.stderr + log
    # what it waits for: the pair, queued, then running, then done
    assert "queued 1 run(s) for the workers" in done.stderr, done.stderr
    assert f"{M3_CONNECTION}:orders: running (job {kept['job']})" in done.stderr, done.stderr
    assert f"{M3_CONNECTION}:orders: done (job {kept['job']})" in done.stderr, done.stderr
    # the summary the worker's run made, printed as an inline sync prints it
    assert summary.counts.get("posted")
    assert done.stdout.splitlines()[0] == summary.line(), done.stdout
    assert summary.line() in log  # the worker printed the same run
    assert orders and all(n == 1 for n in orders.values())
