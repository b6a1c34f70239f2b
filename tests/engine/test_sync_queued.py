"""`sync --queue`'s waiting (executors/waiting.py) over a fake queue: each connection's flows are
queued one after another in dependency order, connections side by side; a pair already queued is
waited for, not queued twice; each ended job's summary is the worker's, read back from the store."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from ml_connector.config import parse_config
from ml_connector.engine.store import Store
from ml_connector.executors import results
from ml_connector.executors.waiting import StoppedWaiting, sync_queued
from ml_connector.flows.context import FlowSummary

CONFIG = """
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
flows = ["settlements", "orders", "items"]
[connections.m3]
company = "100"
division = "AAA"

[[connections]]
name = "uk"
marketplaces = ["A1F83G8C2ARO7P"]
erp = "acumatica"
flows = ["orders"]
[connections.acumatica]
branch = "MAIN"
"""


class FakeQueue:
    """Jobs that run (and write their summary, as a worker does) after two looks at them."""

    def __init__(self, store: Store, waiting_already: set[str] = frozenset()) -> None:
        self.store, self.jobs, self.queued = store, {}, []
        self.waiting_already = set(waiting_already)
        self.write_summary = True

    def queue_pair(self, pair):
        active = [
            j for j in self.jobs.values() if j.lock.split(":")[0] == pair.connection.name and j.looks < 2
        ]
        assert not active, f"{pair.lock} queued while {active[0].lock} had not ended"
        job_id = len(self.jobs) + 1
        self.jobs[job_id] = SimpleNamespace(lock=pair.lock, looks=0, pair=pair)
        self.queued.append(pair.lock)
        return job_id, pair.lock not in self.waiting_already

    def job(self, job_id):
        job = self.jobs[job_id]
        job.looks += 1
        if job.looks == 1:
            return SimpleNamespace(status="doing", attempts=1)
        if job.looks == 2 and self.write_summary:
            summary = FlowSummary(job.pair.flow, job.pair.connection.name)
            summary.count("posted", job_id)
            results.keep(self.store, summary, job_id)
        return SimpleNamespace(status="succeeded", attempts=1)


@pytest.fixture
def world(sqlite_url):
    config = parse_config(CONFIG)
    store = Store.open(sqlite_url)
    for conn in config.connections:
        store.ensure_connection(conn.name, erp=conn.erp)
    yield store, config
    store.close()


def _wait(queue, store, config, flows=None, stop=None):
    said, printed = [], []
    summaries = sync_queued(
        queue,  # type: ignore[arg-type]
        store,
        config,
        flows=flows,
        connection=None,
        say=said.append,
        on_summary=printed.append,
        stop=stop or threading.Event(),
        poll=0.0,
    )
    return summaries, said, printed


def test_each_connections_flows_go_in_dependency_order_and_print_the_workers_summary(world):
    store, config = world
    queue = FakeQueue(store)
    summaries, said, printed = _wait(queue, store, config)
    assert [lock for lock in queue.queued if lock.startswith("us:")] == [
        "us:items",
        "us:orders",
        "us:settlements",
    ]
    assert queue.queued[:2] == ["us:items", "uk:orders"]  # connections side by side
    assert printed == summaries and len(summaries) == 4
    by_lock = {f"{s.connection}:{s.flow}": s for s in summaries}
    job_of = {j.lock: i for i, j in queue.jobs.items()}
    for lock, summary in by_lock.items():
        assert summary.counts == {"posted": job_of[lock]}  # the one the worker wrote for that job
    assert said[0] == "queued 2 run(s) for the workers; waiting (Ctrl-C stops waiting, not the runs)"
    assert "us:items: running (job 1)" in said and "us:items: done (job 1)" in said


def test_a_pair_already_queued_is_waited_for_and_a_missing_summary_is_said(world):
    store, config = world
    queue = FakeQueue(store, waiting_already={"uk:orders"})
    queue.write_summary = False
    summaries, said, _ = _wait(queue, store, config, flows=["orders"])
    assert "uk:orders: a run was already queued (job 2); waiting for it" in said
    assert all("without a summary" in s.notes[0] and not s.counts for s in summaries)


def test_a_stop_ends_the_waiting_not_the_runs(world):
    store, config = world
    stop = threading.Event()
    stop.set()
    with pytest.raises(StoppedWaiting, match="the queued runs go on in the workers"):
        _wait(FakeQueue(store), store, config, stop=stop)
