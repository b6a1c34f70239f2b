"""`ml-connector run` on PostgreSQL stopped mid-post by SIGTERM, SIGINT and SIGKILL.

SIGTERM and SIGINT: the worker stops where it is, releases the claim of the record it was posting
and its run lease, records the run ``interrupted`` and exits 0. SIGKILL: nothing is released, but
nothing stays locked past the heartbeat timeout (leases and claims lapse with the dead worker's
heartbeat). Either way the next run posts what was left, once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from ml_connector.engine.models import Lease, Record, Run
from ml_connector.flows.runner import sync
from ml_connector.sandbox.deployment import M3_CONNECTION, SandboxDeployment

CLI = [sys.executable, "-m", "ml_connector"]
HEARTBEAT = timedelta(seconds=600)  # sandbox time (600x): one real second


def _wait_for(condition, seconds: float = 90.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _orders(deployment) -> Counter:
    return Counter(order["head"]["CUOR"] for order in deployment.state("m3").orders())


def _running_orders(store) -> bool:
    with store.session() as s:
        return s.scalars(select(Run).where(Run.flow == "orders", Run.state == "running")).first() is not None


@pytest.mark.postgres
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_stopped_run_worker_leaves_nothing_locked_past_the_heartbeat(tmp_path, postgres_url, stop):
    with SandboxDeployment(home=tmp_path / "home", store_url=postgres_url) as deployment:
        with deployment.config_path.open("a", encoding="utf-8") as config:
            config.write(f'\n[run]\nheartbeat_timeout = "{int(HEARTBEAT.total_seconds())}s"\n')
        store = deployment.open_store()
        worker = subprocess.Popen(
            [*CLI, "run", "--connection", M3_CONNECTION],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert _wait_for(lambda: sum(_orders(deployment).values()) >= 3 and _running_orders(store)), (
                "the orders flow posts"
            )
            worker.send_signal(stop)
            out, err = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        stopped_at = store.now()
        with store.session() as s:
            claimed = list(s.scalars(select(Record).where(Record.claim_owner.is_not(None))))
            leases = list(s.scalars(select(Lease)))
            orders_run = s.scalars(select(Run).where(Run.flow == "orders").order_by(Run.id.desc())).first()
        if stop == signal.SIGKILL:
            assert worker.returncode == -signal.SIGKILL
            # nothing locked beyond one heartbeat timeout (claims: the derived claim TTL, same bound)
            assert all(c.claim_expires_at <= stopped_at + HEARTBEAT for c in claimed), claimed
            assert all(lease.expires_at <= stopped_at + HEARTBEAT for lease in leases), leases
            assert orders_run.state == "running"  # nobody could record it: the next run marks it
            deployment.clock.advance(HEARTBEAT.total_seconds())  # the dead worker's heartbeat lapses
        else:
            assert worker.returncode == 0, err[-2000:]
            assert "stopped by" in out, out
            assert claimed == [], [(c.key, c.claim_owner) for c in claimed]
            assert leases == [], leases
            assert orders_run.state == "interrupted"
        before = _orders(deployment)
        summaries = sync(store, deployment.config, connection=M3_CONNECTION, clock=deployment.clock)
        assert not any(s.counts.get("skipped_lease_held") for s in summaries), [s.line() for s in summaries]
        after = _orders(deployment)
        assert all(n == 1 for n in after.values()), [k for k, n in after.items() if n > 1]
        assert sum(after.values()) > sum(before.values())  # the rest was posted by the next run
        with store.session() as s:
            pending = list(
                s.scalars(select(Record).where(Record.state == "pending", Record.kind == "sales_order"))
            )
            assert pending == [], [(r.key, r.error) for r in pending]
        store.close()
