"""`ml-connector run`, `sync` and `ping` as a person runs them: the real CLI in a subprocess."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

from ml_connector.sandbox.deployment import M3_CONNECTION

CLI = [sys.executable, "-m", "ml_connector"]


def _posted_orders(deployment) -> set[str]:
    return {order["head"]["CUOR"] for order in deployment.state("m3").orders()}


def _wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_run_keeps_a_connection_in_sync_and_stops_gracefully_on_sigterm(deployment):
    worker = subprocess.Popen(
        [*CLI, "run", "--connection", M3_CONNECTION],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(lambda: len(_posted_orders(deployment)) > 10), "the first orders run posts"
        new = deployment.state("amazon").place_order("A2EUQ1WTGCTBG2", channel="MFN")
        # Orders run every 15 minutes of sandbox time: the new order arrives on a later cycle.
        assert _wait_for(lambda: new.order_id in _posted_orders(deployment)), "a new order is posted by run"
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert "stopped after" in out
    assert "orders" in out and M3_CONNECTION in out


def test_sync_one_flow_prints_a_line_per_connection_and_never_reposts(deployment):
    first = subprocess.run(
        [*CLI, "sync", "orders"], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert "orders       us-ca-m3:" in first.stdout and "posted" in first.stdout
    assert first.returncode == 1  # some orders name SKUs without an ERP item
    again = subprocess.run(
        [*CLI, "sync", "orders", "--since", "2026-01-01"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "posted" not in again.stdout.replace("already posted", "")  # re-read, never re-posted


def test_sync_rejects_an_unknown_flow(deployment):
    result = subprocess.run([*CLI, "sync", "invoices"], env=dict(os.environ), capture_output=True, text=True)
    assert result.returncode == 1
    assert "unknown flow 'invoices'" in result.stderr


def test_ping_says_ok_per_system_and_names_what_is_wrong(deployment, store):
    ok = subprocess.run([*CLI, "ping"], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for line in (
        "us-ca-m3 amazon: ok",
        "us-ca-m3 m3: ok",
        "uk-acumatica amazon: ok",
        "uk-acumatica acumatica: ok",
    ):
        assert line in ok.stdout

    deployment.state("amazon").revoke_authorization()
    store.save_credentials(
        "uk-acumatica",
        "acumatica",
        {**store.load_credentials("uk-acumatica", "acumatica"), "password": "Wr0ng-Secret-9f3k"},
    )
    bad = subprocess.run([*CLI, "ping"], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "us-ca-m3 m3: ok" in bad.stdout
    amazon_lines = [line for line in bad.stdout.splitlines() if "amazon:" in line]
    assert amazon_lines and all("✗" in line for line in amazon_lines)
    assert any("authoris" in line.lower() and "refresh token" in line for line in amazon_lines), amazon_lines
    assert any("uk-acumatica acumatica:" in line and "✗" in line for line in bad.stdout.splitlines()), (
        bad.stdout
    )
    assert "Wr0ng-Secret-9f3k" not in bad.stdout + bad.stderr  # a refused secret is never echoed


def test_ping_warns_with_the_date_when_a_connection_still_uses_a_removed_operation(deployment, monkeypatch):
    """In-process (the table is patched): a connection whose orders flow still read Orders v0 gets a
    warning line naming the operation, Amazon's removal date and the replacement; exit 0 all the same."""
    from typer.testing import CliRunner

    from ml_connector.cli.app import app
    from ml_connector.flows import registry

    ok = CliRunner().invoke(app, ["ping"])
    assert ok.exit_code == 0, ok.output
    assert "Amazon removes" not in ok.output  # the default paths use nothing Amazon is removing
    v0_orders = dataclasses.replace(
        registry.spec("orders"), amazon_operations=frozenset({"getOrdersV0", "getOrderItems"})
    )
    monkeypatch.setitem(registry._BY_NAME, "orders", v0_orders)
    warned = CliRunner().invoke(app, ["ping", "--connection", M3_CONNECTION])
    assert warned.exit_code == 0, warned.output
    lines = [line for line in warned.output.splitlines() if "Amazon removes" in line]
    assert len(lines) == 2, warned.output
    assert all(line.startswith(f"! {M3_CONNECTION} amazon:") and "2027-03-27" in line for line in lines)
    assert any("getOrdersV0" in line and "searchOrders" in line for line in lines)
