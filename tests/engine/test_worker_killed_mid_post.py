"""A queue worker SIGKILLed between the ERP write and recording it: another worker takes the job over
(procrastinate's stalled-job retry, after the dead worker's heartbeat lapses), finds the ERP record by
its key (the posting protocol's query-first) and finishes the job. One ERP record, the job succeeded.

Both workers are real processes on the machine's PostgreSQL (tests/engine/queue_worker.py: the
pieces of `ml-connector worker` plus the crash tests' kill hook)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from ml_connector.engine.models import Connection, Record
from ml_connector.engine.store import DONE_STATES
from ml_connector.sandbox.deployment import M3_CONNECTION, SandboxDeployment

WORKER = Path(__file__).with_name("queue_worker.py")
HEARTBEAT_S = 5  # real seconds: procrastinate's stalled timeout and the run leases
PAST_CLAIMS_S = 200  # the second worker's store clock: past the dead one's claims (90 s at least)


def _start(options: dict, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(options)],
        env=dict(os.environ),
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
    )


def _erp_keys(deployment: SandboxDeployment, kind: str) -> Counter:
    m3 = deployment.state("m3")
    if kind == "customer":
        return Counter(customer.get("YREF") for customer in m3.customers())
    return Counter(order["head"]["CUOR"] for order in m3.orders())


def _job(store, job_id: int) -> dict:
    with store.engine.connect() as c:
        row = c.execute(
            sa.text("SELECT status, attempts FROM procrastinate_jobs WHERE id = :i"), {"i": job_id}
        )
        return dict(row.mappings().one())


def _orphan(store) -> Record | None:
    """The record the dead worker claimed and never settled."""
    with store.session() as s:
        return s.scalars(
            sa.select(Record)
            .join(Connection, Connection.id == Record.connection_id)
            .where(Connection.name == M3_CONNECTION, Record.flow == "orders", Record.claim_owner.is_not(None))
        ).first()


@pytest.mark.postgres
def test_a_worker_killed_between_the_erp_write_and_its_record_leaves_one_erp_record(tmp_path, postgres_url):
    with SandboxDeployment(home=tmp_path / "home", store_url=postgres_url, order_count=30) as deployment:
        with deployment.config_path.open("a", encoding="utf-8") as config:
            config.write(f'\n[run]\nheartbeat_timeout = "{HEARTBEAT_S}s"\n')
        store = deployment.open_store()
        first = _start(
            {"kill_step": "posted", "kill_connection": M3_CONNECTION, "kill_flow": "orders", "kill_nth": 3},
            tmp_path / "first.out",
        )
        try:
            first.wait(timeout=240)
        finally:
            if first.poll() is None:
                first.kill()
        first_log = (tmp_path / "first.out").read_text()
        assert first.returncode == -signal.SIGKILL, first_log[-3000:]

        orphan = _orphan(store)
        assert orphan is not None and orphan.state == "pending", "the kill left no record mid-post"
        assert _erp_keys(deployment, orphan.kind)[orphan.key] == 1, "the ERP write had not happened"
        with store.engine.connect() as c:
            job_id, status = c.execute(
                sa.text("SELECT id, status FROM procrastinate_jobs WHERE lock = :l ORDER BY id DESC LIMIT 1"),
                {"l": f"{M3_CONNECTION}:orders"},
            ).one()
        assert status == "doing"  # the dead worker's: nobody has recorded its end

        second = _start({"clock_advance": PAST_CLAIMS_S, "concurrency": 2}, tmp_path / "second.out")
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and second.poll() is None:
                if _job(store, job_id)["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=120)
            finally:
                if second.poll() is None:
                    second.kill()
        second_log = (tmp_path / "second.out").read_text()
        job = _job(store, job_id)
        with store.session() as s:
            settled = s.get(Record, orphan.id)
        store.close()
        keys = _erp_keys(deployment, orphan.kind)
        orders = _erp_keys(deployment, "sales_order")

    assert job["status"] == "succeeded", (job, second_log[-3000:])
    assert job["attempts"] >= 2  # tried by the dead worker, then by the second
    assert "left by a dead worker; queued again" in second_log, second_log[-3000:]
    assert f"orders       {M3_CONNECTION}:" in second_log  # the second worker finished the run
    assert "already in the ERP (found, not sent again)" in second_log  # query-first found the write
    assert "Traceback" not in second_log, second_log[-3000:]
    assert keys[orphan.key] == 1, f"{orphan.kind} {orphan.key} is in the ERP {keys[orphan.key]} times"
    assert settled.state in DONE_STATES and settled.claim_owner is None, (settled.state, settled.error)
    assert settled.erp_id
    assert orders and all(n == 1 for n in orders.values()), [k for k, n in orders.items() if n > 1]
