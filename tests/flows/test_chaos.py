"""Chaos: the demo's flows under fault injection in every sandbox and SIGKILLs at random moments.

The worker is the real CLI (`ml-connector sync all`) in a subprocess, killed with SIGKILL at random
moments and started again, repeatedly, while every sandbox injects 429s, 5xx, dropped connections,
slow answers and expired tokens. Afterwards the ERP sandboxes must hold exactly the records a clean
run makes, each Amazon key once, and the store must have lost no record.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from ml_connector.flows.runner import sync
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION, SandboxDeployment
from ml_connector.sandbox.faults import FaultPlan

KILLS = 8


def _faults(seed: int) -> dict[str, FaultPlan]:
    def plan(offset: int) -> FaultPlan:
        return FaultPlan(
            rate_429=0.05,
            rate_500=0.02,
            rate_503=0.02,
            rate_drop=0.02,
            rate_slow=0.02,
            slow_seconds=20,
            rate_expire_token=0.03,
            seed=seed + offset,
        )

    return {"amazon": plan(1), "m3": plan(2), "acumatica": plan(3)}


def _erp_keys(deployment: SandboxDeployment) -> dict[str, Counter]:
    m3, acumatica = deployment.state("m3"), deployment.state("acumatica").records
    return {
        "m3 orders": Counter(order["head"]["CUOR"] for order in m3.orders()),
        "m3 customers": Counter(customer.get("YREF") for customer in m3.customers()),
        "acumatica invoices": Counter(
            row.get("CustomerOrder") for row in acumatica.get("SalesInvoice", {}).values()
        ),
        "acumatica customers": Counter(
            row.get("CustomerID") for row in acumatica.get("Customer", {}).values()
        ),
    }


def _sync_all(deployment: SandboxDeployment) -> None:
    store = deployment.open_store()
    try:
        sync(store, deployment.config, clock=deployment.clock)
    finally:
        store.close()


@pytest.mark.slow
def test_chaos_kills_and_faults_end_in_exactly_the_clean_records(tmp_path):
    with SandboxDeployment(home=tmp_path / "clean") as clean:
        _sync_all(clean)
        _sync_all(clean)
        expected = _erp_keys(clean)
    assert sum(expected["m3 orders"].values()) > 20

    rng = random.Random(20261123)
    survived = 0
    with SandboxDeployment(home=tmp_path / "chaos", faults=_faults(11)) as chaos:
        env = dict(os.environ)  # ML_CONNECTOR_HOME and ML_CONNECTOR_CONFIG point at the chaos home
        for _ in range(KILLS):
            worker = subprocess.Popen(
                [sys.executable, "-m", "ml_connector", "sync", "all"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.8, 3.0))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                survived += 1
            worker.wait()
        # A run to the end under the same faults, then (sessions of killed workers expired) a calm one.
        finished = subprocess.run(
            [sys.executable, "-m", "ml_connector", "sync", "all"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        for plan in chaos.faults.values():
            for name in ("rate_429", "rate_500", "rate_503", "rate_drop", "rate_slow", "rate_expire_token"):
                setattr(plan, name, 0.0)
        chaos.clock.advance(3 * 3600)  # killed workers never signed out: their Acumatica seats expire
        _sync_all(chaos)
        _sync_all(chaos)
        got = _erp_keys(chaos)
        journals = {
            "m3 vouchers": Counter(v["lines"][0]["VTXT"].split()[0] for v in chaos.state("m3").vouchers()),
            "acumatica journals": Counter(
                row.get("Description")
                for row in chaos.state("acumatica").records.get("JournalTransaction", {}).values()
            ),
        }
        injected = {name: dict(plan.injected) for name, plan in chaos.faults.items()}

        store = chaos.open_store()
        try:
            for connection in (M3_CONNECTION, ACUMATICA_CONNECTION):
                states = Counter(record.state for record in store.records(connection=connection))
                assert states.get("pending", 0) == 0, (connection, states)
            order_records = {
                record.key
                for record in store.records(flow="orders")
                if record.kind in ("sales_order", "sales_invoice")
            }
        finally:
            store.close()

    print(f"chaos: {survived} of {KILLS} workers SIGKILLed mid-run; faults injected: {injected}")
    assert survived >= KILLS // 2, "the workers must really be killed mid-run"
    assert all(sum(counts.values()) > 0 for counts in injected.values()), injected
    for what, counts in got.items():
        assert all(n == 1 for n in counts.values()), (
            f"{what} posted twice: {[k for k, n in counts.items() if n > 1]}"
        )
        assert set(counts) == set(expected[what]), f"{what}: differs from a clean run"
    for what, counts in journals.items():  # settlements keep arriving over time: once each is the rule
        assert counts and all(n == 1 for n in counts.values()), f"{what} posted twice"
    # No record lost: every order the ERPs hold is a record in the store.
    assert set(got["m3 orders"]) | set(got["acumatica invoices"]) <= order_records
    assert finished.returncode in (0, 1), finished.stderr[-2000:]
