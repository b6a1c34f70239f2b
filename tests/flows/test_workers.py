"""Worker mode for real: `ml-connector worker` processes on the machine's PostgreSQL share two sellers.

From the store's recorded run start and end times: no (connection, flow) pair ever runs twice at
once, every pair runs again after its cadence, the dispatcher fires once per tick however many
workers run it, and the ERP sandboxes hold each Amazon key once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ml_connector.engine.models import Connection, Run
from ml_connector.sandbox.deployment import SandboxDeployment

WORKERS = 3


def _start_workers(tmp_path, n: int) -> list[subprocess.Popen]:
    env = dict(os.environ)  # the deployment's home, config and master key
    return [
        subprocess.Popen(
            [sys.executable, "-m", "ml_connector", "worker", "--concurrency", "2", "--dispatch-every", "1"],
            env=env,
            stdout=(tmp_path / f"worker{i}.out").open("w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(n)
    ]


def _runs(store) -> dict[tuple[str, str], list[Run]]:
    with store.session() as s:
        rows = s.execute(sa.select(Connection.name, Run).join(Connection, Connection.id == Run.connection_id))
        by_pair: dict[tuple[str, str], list[Run]] = defaultdict(list)
        for name, run in rows:
            by_pair[(name, run.flow)].append(run)
    return by_pair


def _stop(workers: list[subprocess.Popen]) -> list[int]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    return [worker.wait(timeout=120) for worker in workers]


@pytest.mark.postgres
@pytest.mark.slow
def test_three_workers_share_every_pair_without_overlap(tmp_path, postgres_url):
    with SandboxDeployment(
        home=tmp_path / "home", store_url=postgres_url, time_scale=600, order_count=40
    ) as deployment:
        store = deployment.open_store()
        pairs = {(c.name, f) for c in deployment.config.connections for f in c.flows}
        frequent = {(c, f) for c, f in pairs if f in ("orders", "stock_price", "shipments")}
        workers = _start_workers(tmp_path, WORKERS)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:  # every pair ran; the 15-minute ones (1.5 s here) three times
                runs = _runs(store)
                finished = {p: [r for r in rs if r.finished_at] for p, rs in runs.items()}
                if set(finished) >= pairs and all(len(finished[p]) >= 3 for p in frequent):
                    break
                if any(w.poll() is not None for w in workers):
                    break
                time.sleep(1)
        finally:
            codes = _stop(workers)
        logs = "\n".join((tmp_path / f"worker{i}.out").read_text()[-1500:] for i in range(WORKERS))
        assert codes == [0] * WORKERS, logs
        assert "Traceback" not in logs, logs
        runs = _runs(store)
        with store.engine.connect() as c:
            ticks = c.execute(
                sa.text(
                    "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
                    "WHERE task_name = 'ml_connector.dispatch' GROUP BY args->>'timestamp'"
                )
            ).all()
            dispatched = c.execute(
                sa.text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'ml_connector.dispatch'")
            ).scalar()
        store.close()
        m3 = deployment.state("m3")
        order_keys = Counter(order["head"]["CUOR"] for order in m3.orders())

    assert set(runs) >= pairs
    for pair, pair_runs in runs.items():
        spans = sorted((r.started_at, r.finished_at) for r in pair_runs)
        assert all(end is not None for _, end in spans), f"{pair}: a run never ended"
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"{pair} ran twice at once: one ended {end}, the next began {start}"
    assert len(ticks) >= 5 and all(n == 1 for _, n in ticks), "a tick was dispatched more than once"
    assert dispatched == len(ticks)  # one dispatch job per tick, whichever worker deferred it
    cadence = timedelta(minutes=15) / 600 - timedelta(milliseconds=50)
    for pair in frequent:  # each due time ran once: a pair's next run starts a cadence after the last ended
        spans = sorted((r.started_at, r.finished_at) for r in runs[pair])
        assert len(spans) >= 3, pair
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start - end >= cadence, f"{pair} ran again {start - end} after its last run"
    worked = [
        i
        for i in range(WORKERS)
        if any(name in (tmp_path / f"worker{i}.out").read_text() for name, _ in pairs)
    ]
    assert len(worked) >= 2, f"the work was not shared: only workers {worked} ran flows"
    assert order_keys and all(n == 1 for n in order_keys.values()), "an order was posted twice"
