"""Every mistake a user can make ends in one or two lines of our words and exit code 1: never a
traceback, never a Python class name (issue 12). The list runs through the real CLI and its error
boundary (`cli.app.run`) in-process, and a sample of it through `python -m ml_connector` in
subprocesses, exactly as a shell runs it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from ml_connector.sandbox.m3.app import ionapi_document

CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|Traceback|File \"/|\bline \d+, in\b")

GOOD_CONFIG = """\
[[connections]]
name = "shop"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
[connections.m3]
company = "100"
"""

SANDBOX_IONAPI = ionapi_document("http://127.0.0.1:8702")
BAD_URLS = {
    "nonsense": "nonsense",
    "closed-port": "postgresql+psycopg://127.0.0.1:1/test",
    "missing-db": "postgresql+psycopg://127.0.0.1:5432/ml_connector_no_such_db",
    "mysql": "mysql://user@127.0.0.1/db",
    "sqlite-missing-folder": "sqlite:////nonexistent-ml-folder/sub/store.sqlite3",
}
# Every command, by its path: those that open the store meet every bad URL; NO_STORE never opens it.
STORE_COMMANDS = {
    "status": ["status"],
    "ping": ["ping"],
    "sync": ["sync", "orders"],
    "records": ["records"],
    "init": ["init"],
    "connections": ["connections"],
    "reconcile": ["reconcile"],
    "replay": ["replay", "--failed"],
    "audit": ["audit", "1"],
    "connect amazon": ["connect", "amazon", "--name", "x", "--secrets-stdin", "--no-check"],
    "connect m3": ["connect", "m3", "--name", "x", "--ionapi", "{ionapi}", "--no-check"],
    "connect acumatica": [
        "connect", "acumatica", "--name", "x", "--url", "https://erp.example.com", "--tenant", "T", "--secrets-stdin", "--no-check",
    ],
    "run": ["run"],
    "worker": ["worker"],
    "console": ["console", "--port", "1"],
    "pause": ["pause", "shop"],
    "resume": ["resume", "shop"],
    "rotate-key": ["rotate-key"],
    "vault rotate-key": ["vault", "rotate-key"],
    "settlement set-marketplace": ["settlement", "set-marketplace", "123", "ATVPDKIKX0DER", "--connection", "shop"],
    "connection remove": ["connection", "remove", "shop", "--keep-records"],
    "user add": ["user", "add", "bob", "--role", "viewer", "--password-stdin"],
    "user list": ["user", "list"],
    "user remove": ["user", "remove", "bob"],
    "user set-role": ["user", "set-role", "bob", "finance"],
    "user set-password": ["user", "set-password", "bob", "--password-stdin"],
}  # fmt: skip
NO_STORE = {
    "demo": "its own temporary home and store",
    "version": "prints the version",
    "settlement show": "reads a file",
    "settlement default-mapping": "prints the shipped mapping",
    "sandbox serve": "serves simulators",
    "sandbox ionapi": "prints a sandbox .ionapi",
    "config check": "reads config.toml",
    "config reference": "prints CONFIG.md",
    "config path": "prints a path",
}


def _cases(tmp: Path) -> list[tuple[str, list[str], dict[str, str | None], str, str]]:
    """(id, argv, env, stdin, words the message must hold)."""
    lls = "/bin/ls"
    nonempty = tmp / "nonempty"
    busy_port = _busy_port()
    cases = []
    corrupt = tmp / "corrupt.sqlite3"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"not a page" * 400)
    ionapi = tmp / "sandbox.ionapi"
    ionapi.write_text(json.dumps(SANDBOX_IONAPI))
    urls = {**BAD_URLS, "sqlite-corrupt": f"sqlite:///{corrupt}"}
    for url_id, url in urls.items():
        for cmd_id, template in STORE_COMMANDS.items():
            argv = [a.replace("{ionapi}", str(ionapi)) for a in template]
            stdin = {
                "connect acumatica": '{"client_id":"a","client_secret":"b","username":"u","password":"p"}',
                "user add": "a-long-enough-password-1\na-long-enough-password-1\n",
                "user set-password": "a-long-enough-password-1\n",
            }.get(cmd_id, '{"client_id":"a","client_secret":"b","refresh_token":"c"}')
            cases.append(
                (f"db-{url_id}-{cmd_id}", argv, {"ML_CONNECTOR_DATABASE_URL": url}, stdin, "cannot open the store")
            )  # fmt: skip
    amazon_secrets = '{"client_id":"a","client_secret":"b","refresh_token":"c"}'
    acu_secrets = '{"client_id":"a","client_secret":"b","username":"u","password":"p"}'
    cases += [
        ("serve-port-70000", ["sandbox", "serve", "--port-base", "70000"], {}, "", "--port-base"),
        ("serve-busy-port", ["sandbox", "serve", "--only", "amazon", "--port-base", str(busy_port)], {}, "", "--port-base"),
        ("serve-only-bogus", ["sandbox", "serve", "--only", "bogus"], {}, "", "amazon, m3, acumatica"),
        ("serve-time-scale-0", ["sandbox", "serve", "--time-scale", "0"], {}, "", "time-scale"),
        ("demo-time-scale-0", ["demo", "--time-scale", "0"], {}, "", "time-scale"),
        ("demo-keep-nonempty", ["demo", "--keep", str(nonempty)], {}, "", "not empty"),
        ("demo-keep-home", ["demo", "--keep", str(tmp / "home")], {}, "", "home"),
        ("demo-keep-file", ["demo", "--keep", str(tmp / "nonempty" / "file.txt")], {}, "", "file"),
        ("connect-m3-binary", ["connect", "m3", "--name", "x", "--ionapi", lls, "--no-check"], {}, "", "ionapi"),
        ("connect-m3-missing", ["connect", "m3", "--name", "x", "--ionapi", str(tmp / "nope.ionapi")], {}, "", "nope.ionapi"),
        ("connect-m3-dir", ["connect", "m3", "--name", "x", "--ionapi", str(tmp)], {}, "", "directory"),
        ("connect-m3-empty", ["connect", "m3", "--name", "x", "--ionapi", str(tmp / "empty.ionapi")], {}, "", "missing"),
        ("connect-m3-old-flag", ["connect", "m3", "--name", "x", "--ionapi", lls, "--company", "999"], {}, "", "--company"),
        ("connect-bad-name", ["connect", "amazon", "--name", "no spaces", "--secrets-stdin"], {}, amazon_secrets, "--name"),
        ("connect-marketplace-bogus", ["connect", "amazon", "--name", "x", "--marketplace", "BOGUS", "--secrets-stdin"], {}, amazon_secrets, "BOGUS"),
        ("connect-eu-in-na", ["connect", "amazon", "--name", "x", "--region", "na", "--marketplace", "A1PA6795UKMFR9", "--secrets-stdin"], {}, amazon_secrets, "--region eu"),
        ("connect-region-mars", ["connect", "amazon", "--name", "x", "--region", "mars", "--secrets-stdin"], {}, amazon_secrets, "na, eu, fe"),
        ("connect-url-no-scheme", ["connect", "amazon", "--name", "x", "--sandbox-url", "127.0.0.1:8701", "--secrets-stdin"], {}, amazon_secrets, "scheme"),
        ("connect-missing-secret", ["connect", "amazon", "--name", "x", "--secrets-stdin"], {}, '{"client_id":"a"}', "client_secret"),
        ("connect-secrets-not-json", ["connect", "amazon", "--name", "x", "--secrets-stdin"], {}, "{nope", "JSON"),
        ("connect-acu-no-scheme", ["connect", "acumatica", "--name", "x", "--url", "erp.example.com", "--tenant", "T", "--secrets-stdin"], {}, acu_secrets, "scheme"),
        ("connect-acu-banana", ["connect", "acumatica", "--name", "x", "--url", "https://erp.example.com", "--tenant", "T", "--endpoint-version", "banana", "--secrets-stdin"], {}, acu_secrets, "24.200.001"),
        ("status-nosuch", ["status", "--connection", "nosuch"], {}, "", "shop"),
        ("status-c-nosuch", ["status", "-c", "nosuch"], {}, "", "shop"),
        ("records-flow-bogus", ["records", "--flow", "bogus"], {}, "", "settlements"),
        ("records-day-bogus", ["records", "--day", "30.11.2026"], {}, "", "2026-11-30"),
        ("records-amount-bogus", ["records", "--amount", "twelve"], {}, "", "12.34"),
        ("records-state-bogus", ["records", "--state", "bogus"], {}, "", "failed"),
        ("records-limit-0", ["records", "--limit", "0"], {}, "", "--limit"),
        ("records-nosuch", ["records", "-c", "nosuch"], {}, "", "shop"),
        ("audit-nope", ["audit", "NOPE"], {}, "", "no record"),
        ("replay-neither", ["replay"], {}, "", "--failed"),
        ("replay-nosuch", ["replay", "--failed", "-c", "nosuch"], {}, "", "shop"),
        ("sync-bogus-flow", ["sync", "bogus"], {}, "", "flows are"),
        ("sync-bad-since", ["sync", "orders", "--since", "yesterday"], {}, "", "--since"),
        ("sync-nosuch", ["sync", "orders", "-c", "nosuch"], {}, "", "nosuch"),
        ("ping-nosuch", ["ping", "-c", "nosuch"], {}, "", "nosuch"),
        ("reconcile-nosuch-settlement", ["reconcile", "999999"], {}, "", "999999"),
        ("config-missing", ["ping"], {"ML_CONNECTOR_CONFIG": str(tmp / "none.toml")}, "", "ml-connector init"),
        ("config-dir", ["ping"], {"ML_CONNECTOR_CONFIG": str(tmp)}, "", "directory"),
        ("config-empty", ["sync", "all"], {"ML_CONNECTOR_CONFIG": str(tmp / "empty.toml")}, "", "no connections"),
        ("config-yes", ["ping"], {"ML_CONNECTOR_CONFIG": str(tmp / "yes.toml")}, "", "true or false"),
        ("config-latin1", ["ping"], {"ML_CONNECTOR_CONFIG": str(tmp / "latin1.toml")}, "", "UTF-8"),
        ("config-store-5", ["sync", "all"], {"ML_CONNECTOR_CONFIG": str(tmp / "store5.toml")}, "", "store must be a table"),
        ("config-typo", ["ping"], {"ML_CONNECTOR_CONFIG": str(tmp / "typo.toml")}, "", "did you mean"),
        ("config-flag-dir", ["--config", str(tmp), "ping"], {}, "", "directory"),
        ("config-check-bad", ["config", "check"], {"ML_CONNECTOR_CONFIG": str(tmp / "yes.toml")}, "", "true or false"),
        ("key-garbage-connect", ["connect", "amazon", "--name", "x", "--secrets-stdin", "--no-check"], {"ML_CONNECTOR_MASTER_KEY": "garbage"}, amazon_secrets, "backup"),
        ("key-garbage-init", ["init"], {"ML_CONNECTOR_MASTER_KEY": "garbage"}, "", "32 bytes"),
        ("rotate-env-without-new", ["vault", "rotate-key"], {}, "", "ML_CONNECTOR_NEW_MASTER_KEY"),
        ("unknown-command", ["frobnicate"], {}, "", "frobnicate"),
        ("unknown-option", ["status", "--bogus"], {}, "", "--bogus"),
        ("missing-argument", ["audit"], {}, "", "RECORD"),
        ("settlement-missing-file", ["settlement", "show", str(tmp / "none.txt")], {}, "", "none.txt"),
        ("settlement-directory", ["settlement", "show", str(tmp)], {}, "", ""),
        ("home-is-a-file", ["--home", str(tmp / "nonempty" / "file.txt"), "status"], {}, "", ""),
    ]  # fmt: skip
    return cases


def _busy_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    _busy_port.sock = sock  # type: ignore[attr-defined] - held open for the test's life
    return sock.getsockname()[1]


@pytest.fixture
def setting(ml_home: Path, tmp_path: Path, run_cli):
    """A home with a store, a config and one connection; the files the cases point at."""
    (ml_home / "config.toml").write_text(GOOD_CONFIG, encoding="utf-8")
    assert run_cli("init").exit_code == 0
    (tmp_path / "nonempty").mkdir()
    (tmp_path / "nonempty" / "file.txt").write_text("mine")
    (tmp_path / "empty.ionapi").write_text("{}")
    (tmp_path / "empty.toml").write_text("# nothing yet\n")
    (tmp_path / "yes.toml").write_text(
        GOOD_CONFIG.replace('erp = "m3"', 'erp = "m3"\nsplit_by_period = "yes"')
    )
    (tmp_path / "latin1.toml").write_bytes(GOOD_CONFIG.encode() + b"# caf\xe9\n")
    (tmp_path / "store5.toml").write_text("store = 5\n" + GOOD_CONFIG)
    (tmp_path / "typo.toml").write_text(GOOD_CONFIG.replace("erp =", "erpp = 1\nerp ="))
    secrets = '{"client_id":"a","client_secret":"b","refresh_token":"c"}'
    assert (
        run_cli(
            "connect", "amazon", "--name", "shop", "--secrets-stdin", "--no-check", input=secrets
        ).exit_code
        == 0
    )
    return tmp_path


QUARANTINE_EXIT = {"settlement-missing-file", "settlement-directory"}  # settlement show: exit 2 (h4's CLI)


def _assert_our_words(case_id: str, result, words: str) -> None:  # noqa: ANN001
    text = result.output
    assert result.exit_code == (2 if case_id in QUARANTINE_EXIT else 1), (
        f"{case_id}: exit {result.exit_code}\n{text}"
    )
    assert not CLASS_NAME.search(text), f"{case_id}: a traceback or class name reached the screen:\n{text}"
    assert result.stderr.strip(), f"{case_id}: nothing said on stderr"
    said = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(said) <= 4, (
        f"{case_id}: {len(said)} lines:\n{result.stderr}"
    )  # usage errors: Usage + hint + error
    assert words.lower() in text.lower(), f"{case_id}: {words!r} not in\n{text}"


def test_no_bad_invocation_prints_a_traceback(
    setting: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = _cases(setting)
    failures = []
    for case_id, argv, env, stdin, words in cases:
        if case_id == "rotate-env-without-new":
            env = {"ML_CONNECTOR_NEW_MASTER_KEY": None}
        result = run_cli(*argv, input=stdin, env=env)
        try:
            _assert_our_words(case_id, result, words)
        except AssertionError as exc:
            failures.append(str(exc))
    print(f"bad invocations run: {len(cases)}")
    assert not failures, "\n\n".join(failures)
    assert len(cases) >= 100


def test_v_writes_the_traceback_to_the_log_file_only(setting: Path, ml_home: Path, run_cli) -> None:
    quiet = run_cli("status", env={"ML_CONNECTOR_DATABASE_URL": "mysql://u@h/db"})
    assert quiet.exit_code == 1 and not (ml_home / "ml-connector.log").exists()
    loud = run_cli("-v", "status", env={"ML_CONNECTOR_DATABASE_URL": "mysql://u@h/db"})
    assert loud.exit_code == 1 and "Traceback" not in loud.output
    log = (ml_home / "ml-connector.log").read_text()
    assert "Traceback" in log and str(ml_home / "ml-connector.log") in loud.stderr


SUBPROCESS_CASES = [
    (["status"], {"ML_CONNECTOR_DATABASE_URL": "nonsense"}, "cannot open the store"),
    (["connect", "m3", "--name", "x", "--ionapi", "/bin/ls"], {}, "ionapi"),
    (["sandbox", "serve", "--port-base", "70000"], {}, "--port-base"),
    (["demo", "--time-scale", "0"], {}, "time-scale"),
    (["status", "--bogus"], {}, "--bogus"),
    (["status"], {}, "ml-connector init"),  # before init: no store is made behind the user's back
]


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "env", "words"), SUBPROCESS_CASES)
def test_bad_invocations_in_a_real_process(tmp_path: Path, argv, env, words) -> None:
    home = tmp_path / "home"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    environment.update({"ML_CONNECTOR_HOME": str(home), **env})
    done = subprocess.run(
        [sys.executable, "-m", "ml_connector", *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert not CLASS_NAME.search(done.stdout + done.stderr), done.stdout + done.stderr
    assert words in done.stdout + done.stderr
    assert not (home / "ml-connector.sqlite3").exists()


def _command_paths() -> set[str]:
    from ml_connector.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.make_context("ml-connector", [], resilient_parsing=True)
    paths: set[str] = set()

    def walk(command, prefix: tuple[str, ...]) -> None:  # noqa: ANN001 - a click command or group
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*prefix, name))
        else:
            paths.add(" ".join(prefix))

    walk(root, ())
    return paths


def test_every_command_meets_the_bad_store_urls_or_says_why_it_needs_no_store() -> None:
    """A new command is covered automatically: it must be listed in one of the two tables."""
    paths = _command_paths()
    assert paths, "no commands found"
    unlisted = paths - set(STORE_COMMANDS) - set(NO_STORE)
    assert not unlisted, f"add these commands to STORE_COMMANDS or NO_STORE: {sorted(unlisted)}"
    assert not (set(STORE_COMMANDS) | set(NO_STORE)) - paths, "a listed command no longer exists"
