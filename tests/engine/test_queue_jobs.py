"""The job layer on procrastinate's in-memory connector: locks, queueing locks, dispatch, retries.

The real thing (worker processes on the machine's PostgreSQL) is in tests/flows/test_workers.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from procrastinate.testing import InMemoryConnector

from ml_connector.clock import Clock
from ml_connector.config import parse_config
from ml_connector.engine.store import Store
from ml_connector.errors import PermanentError, TransientError
from ml_connector.executors.queue import QUEUE, RUN_TASK, ProjectBackoff, QueueExecutor, WorkerContext
from ml_connector.executors.schedule import DuePair, due_pairs, pairs
from ml_connector.flows.context import FlowSummary
from ml_connector.transport.retry import RetryPolicy

CONFIG = """
time_scale = 60
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
flows = ["orders", "settlements"]
cadence = { orders = "15m" }
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


class RecordingContext(WorkerContext):
    """Runs nothing: records which pair ran, and fails the way a test asks."""

    def __init__(self, store: Store, config, fail: dict[str, BaseException] | None = None) -> None:
        super().__init__(store, config, Clock(60))
        self.ran: list[str] = []
        self.fail = fail or {}

    def run(self, connection: str, flow: str, job_id: int | None = None) -> dict:
        self.ran.append(f"{connection}:{flow}")
        problem = self.fail.pop(f"{connection}:{flow}", None)
        with self.store.run(connection, flow):  # the run is recorded, failed or not, as run_flow does
            if problem is not None:
                raise problem
        return {}


@pytest.fixture
def setup(sqlite_url):
    config = parse_config(CONFIG)
    store = Store.open(sqlite_url)
    for conn in config.connections:
        store.ensure_connection(conn.name, erp=conn.erp)
    yield store, config
    store.close()


def _executor(store, config, **kw):
    context = RecordingContext(store, config, **kw)
    steady = RetryPolicy(attempts=4, base=60.0, rng=lambda: 1.0)  # a retry a minute later, always
    executor = QueueExecutor(None, context, connector=InMemoryConnector(), retry=steady, periodic=False)
    return executor, context


def _work(executor: QueueExecutor) -> None:
    asyncio.run(_work_async(executor))


async def _work_async(executor: QueueExecutor) -> None:
    async with executor.app.open_async():
        await executor.app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False)


def test_one_waiting_job_per_pair(setup):
    store, config = setup
    executor, _ = _executor(store, config)
    with executor.app.open():
        pair = DuePair(config.connection("us"), "orders")
        assert executor.defer(pair) is not None
        assert executor.defer(pair) is None  # queueing lock: one waits at most
        jobs = executor.app.connector.jobs.values()
        assert [(j["lock"], j["queueing_lock"]) for j in jobs] == [("us:orders", "us:orders")]


def test_dispatch_queues_each_due_pair_once_in_the_dependency_order(setup):
    store, config = setup
    executor, context = _executor(store, config)

    async def scenario() -> list[int]:
        dispatched = []
        async with executor.app.open_async():
            work = dict(queues=[QUEUE], wait=False, install_signal_handlers=False)
            dispatched.append(await asyncio.to_thread(executor._dispatch, 0))
            dispatched.append(await asyncio.to_thread(executor._dispatch, 1))
            await executor.app.run_worker_async(**work)
            dispatched.append(await asyncio.to_thread(executor._dispatch, 2))
            await executor.app.run_worker_async(**work)
        return dispatched

    # us:orders and uk:orders first (us:settlements waits for us:orders); nothing is queued twice;
    # once us:orders has run, its settlements
    assert asyncio.run(scenario()) == [2, 0, 1]
    assert sorted(context.ran[:2]) == ["uk:orders", "us:orders"] and context.ran[2:] == ["us:settlements"]
    assert due_pairs(store, config, store.now()) == []  # each ran just now
    later = store.now() + timedelta(minutes=15) / config.time_scale + timedelta(seconds=1)
    assert [p.lock for p in due_pairs(store, config, later)] == ["us:orders", "uk:orders"]


def test_a_pair_with_a_job_at_work_is_not_due(setup):
    store, config = setup
    assert [p.lock for p in due_pairs(store, config, store.now(), active={"us:orders"})] == ["uk:orders"]


def test_pairs_follow_the_dependency_order(setup):
    _, config = setup
    assert [p.lock for p in pairs(config)] == ["us:orders", "us:settlements", "uk:orders"]


def test_a_transient_run_failure_is_retried_and_a_permanent_one_is_not(setup):
    store, config = setup
    executor, context = _executor(
        store,
        config,
        fail={"us:orders": TransientError("Amazon unreachable"), "uk:orders": PermanentError("bug")},
    )
    with executor.app.open():
        for pair in pairs(config):
            executor.queue_pair(pair)
    connector = executor.app.connector
    _work(executor)
    run_jobs = [j for j in connector.jobs.values() if j["task_name"] == RUN_TASK]
    assert len(run_jobs) == 3  # the dispatcher ticking meanwhile queued nothing: each pair had just run
    runs = {j["lock"]: j for j in run_jobs}
    assert runs["uk:orders"]["status"] == "failed"
    assert runs["us:settlements"]["status"] == "succeeded"
    assert runs["us:orders"]["status"] == "todo"  # retried later, with the project's backoff
    assert runs["us:orders"]["scheduled_at"] is not None
    assert sorted(context.ran) == ["uk:orders", "us:orders", "us:settlements"]


def test_the_backoff_is_the_projects_and_ends(setup):
    from procrastinate.jobs import Job

    strategy = ProjectBackoff(RetryPolicy(attempts=4, base=2.0, cap=60.0))
    job = Job(id=1, queue=QUEUE, lock="a:b", queueing_lock="a:b", task_name=RUN_TASK, attempts=0)
    decision = strategy.get_retry_decision(exception=TransientError("down"), job=job)
    assert decision is not None and decision.retry_at is not None
    assert strategy.get_retry_decision(exception=PermanentError("no"), job=job) is None
    tired = Job(id=1, queue=QUEUE, lock="a:b", queueing_lock="a:b", task_name=RUN_TASK, attempts=3)
    assert strategy.get_retry_decision(exception=TransientError("down"), job=tired) is None


def test_a_run_failed_for_a_passing_reason_raises_so_the_job_retries(setup, monkeypatch):
    store, config = setup
    from ml_connector.executors import queue

    def failed_run(store, conn, flow, *, clock, **_):
        summary = FlowSummary(flow, conn.name)
        summary.count("run_failed")
        summary.facts["transient"] = True
        summary.notes.append("Amazon unreachable")
        return summary

    monkeypatch.setattr(queue, "run_flow", failed_run)
    context = WorkerContext(store, config, Clock(60))
    with pytest.raises(TransientError, match="Amazon unreachable"):
        context.run("us", "orders")
