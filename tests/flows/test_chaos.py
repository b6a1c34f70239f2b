"""Chaos: three concurrent workers on PostgreSQL under faults, kills, stalls and a store outage.

The workers are the real CLI in subprocesses: one `ml-connector run` and two `ml-connector sync all`
(restarted whenever they finish), all on one PostgreSQL store, while every sandbox injects 429s, 5xx,
dropped connections, slow answers and expired tokens, and M3 and Acumatica lose the replies of writes
they did. At random moments a worker is SIGKILLed (and started again) or SIGSTOPped for longer than
its claims live (and resumed: the fence must stop it), and once the store goes away for a few seconds
(the workers' connections terminated and new ones refused, for this test's own role only: the
machine's server keeps running for everybody else). Afterwards the ERP sandboxes must hold exactly
the records a clean run makes, each Amazon key once, no record is left pending or
``duplicate_suspected``, and the store holds every order the ERPs hold.
"""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from ml_connector.flows.runner import sync
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION, SandboxDeployment
from ml_connector.sandbox.faults import FaultPlan

HEARTBEAT_S = 1200  # sandbox seconds (600x): 2 real seconds; claims live as long
STALL = (2.4, 3.2)  # real seconds a SIGSTOPped worker stays stopped: past its claims and leases
EVENTS = 8  # kills, stops and one outage, at random, between which the workers run 0.8 to 2.5 s
CLI = [sys.executable, "-m", "ml_connector"]


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


@contextmanager
def _own_role(postgres_url: str):
    """A login role of this test's own on its fresh schema: an outage can then be made for this
    role alone (NOLOGIN + its backends terminated) without touching the shared server."""
    url = sa.engine.make_url(postgres_url)
    schema = url.query["options"].split("=", 1)[1]
    role = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        c.exec_driver_sql(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"')
    try:
        yield url.set(username=role).render_as_string(hide_password=False), admin, role
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN')
            c.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            )
            c.exec_driver_sql(f'DROP OWNED BY "{role}" CASCADE')
            c.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


def _outage(admin: sa.Engine, role: str, seconds: float) -> int:
    """The store goes away: the role's connections are cut and new ones refused for ``seconds``."""
    with admin.connect() as c:
        c.exec_driver_sql(f'ALTER ROLE "{role}" NOLOGIN')
        cut = c.exec_driver_sql(
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'"
        ).scalar()
        time.sleep(seconds)
        c.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN')
    return int(cut or 0)


class Worker:
    def __init__(self, args: list[str], log_dir, n: int) -> None:
        self.args, self.log_dir, self.n, self.starts = args, log_dir, n, 0
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"worker{self.n}-{self.starts}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(self.args, env=dict(os.environ), stdout=log, stderr=log)
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)  # about 3 minutes on a loaded 2-core machine
def test_chaos_concurrent_workers_kills_stalls_and_an_outage_end_in_exactly_the_clean_records(
    tmp_path, postgres_url
):
    with SandboxDeployment(home=tmp_path / "clean") as clean:
        _sync_all(clean)
        _sync_all(clean)
        expected = _erp_keys(clean)
    assert sum(expected["m3 orders"].values()) > 20

    rng = random.Random(20261201)
    kills, stops, outage = 0, 0, {}
    logs = tmp_path / "logs"
    logs.mkdir()
    with (
        _own_role(postgres_url) as (store_url, admin, role),
        SandboxDeployment(home=tmp_path / "chaos", faults=_faults(11), store_url=store_url) as chaos,
    ):
        with chaos.config_path.open("a", encoding="utf-8") as config:
            config.write(f'\n[run]\nheartbeat_timeout = "{HEARTBEAT_S}s"\n')
        chaos.state("acumatica").config.lost_reply_rate = 0.05
        lost = chaos.state("m3").lose_replies
        for transaction in ("OIS100MI.Confirm", "CRS610MI.Add", "GLS840MI.UpdBatch", "OIS100MI.AddBatchLine"):
            lost[transaction] = 2
        workers = [
            Worker([*CLI, "run"], logs, 0),
            Worker([*CLI, "sync", "all"], logs, 1),
            Worker([*CLI, "sync", "all"], logs, 2),
        ]
        try:
            for event in range(EVENTS):
                time.sleep(rng.uniform(0.8, 2.5))
                for worker in workers:  # sync workers that finished start again: always three
                    if not worker.alive():
                        worker.start()
                if event == EVENTS // 2:
                    seconds = rng.uniform(2.0, 4.0)
                    outage = {"seconds": round(seconds, 1), "connections_cut": _outage(admin, role, seconds)}
                    continue
                worker = rng.choice(workers)
                if rng.random() < 0.6:
                    worker.process.send_signal(signal.SIGKILL)
                    worker.process.wait()
                    kills += 1
                    worker.start()
                else:
                    worker.process.send_signal(signal.SIGSTOP)
                    time.sleep(rng.uniform(*STALL))
                    worker.process.send_signal(signal.SIGCONT)
                    stops += 1
        finally:
            for worker in workers:
                if worker.alive():
                    worker.process.send_signal(signal.SIGCONT)
                    worker.process.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
        # A run to the end under the same faults, then (sessions of killed workers expired) a calm one.
        finished = subprocess.run(
            [*CLI, "sync", "all"], env=dict(os.environ), capture_output=True, text=True, timeout=200
        )
        for plan in chaos.faults.values():
            for name in ("rate_429", "rate_500", "rate_503", "rate_drop", "rate_slow", "rate_expire_token"):
                setattr(plan, name, 0.0)
        chaos.state("acumatica").config.lost_reply_rate = 0.0
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
        lost_replies = {
            "m3": {t: 2 - n for t, n in lost.items()},
            "acumatica": chaos.state("acumatica").lost_replies,
        }

        store = chaos.open_store()
        try:
            for connection in (M3_CONNECTION, ACUMATICA_CONNECTION):
                states = Counter(record.state for record in store.records(connection=connection))
                assert states.get("pending", 0) == 0, (connection, states)
                assert states.get("duplicate_suspected", 0) == 0, (
                    connection,
                    [
                        (r.key, r.error)
                        for r in store.records(connection=connection, state="duplicate_suspected")
                    ],
                )
            order_records = {
                record.key
                for record in store.records(flow="orders")
                if record.kind in ("sales_order", "sales_invoice")
            }
            lost_claims = sum("lost the claim" in path.read_text(errors="replace") for path in logs.iterdir())
        finally:
            store.close()

    print(
        f"chaos: 3 workers (run + 2 x sync all), {kills} SIGKILLed, {stops} SIGSTOPped past their claims, "
        f"store outage {outage}, {lost_claims} worker logs saying a claim was lost; "
        f"lost replies {lost_replies}; faults injected: {injected}"
    )
    assert kills >= 2 and stops >= 2, (kills, stops)
    assert outage and outage["connections_cut"] > 0, outage
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
