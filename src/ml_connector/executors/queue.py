"""procrastinate on the store's PostgreSQL: many workers, on many machines, share every seller's work.

Every (connection, flow) run is one job of the task ``ml_connector.run_pair`` with ``lock`` and
``queueing_lock`` = ``connection:flow``: procrastinate never starts two jobs with the same lock, and
never queues a second one while one waits, so a pair runs at most once at a time anywhere and has at
most one run waiting. A periodic ``dispatch`` job (one per tick across all workers: procrastinate
records each periodic defer under a unique key) defers every pair the schedule says is due. A worker
that dies stops sending heartbeats; ``retry_stalled`` hands its jobs to another worker, and the
posting protocol's fenced claims guard every write the dead one may have begun.

procrastinate's own tables live in the store's database, installed by the store's migrations, so
``ml-connector init`` / ``Store.open`` stay the only set-up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import procrastinate
import procrastinate.worker
from procrastinate import RetryDecision
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import make_url

from ml_connector.clock import Clock
from ml_connector.config import DeploymentConfig
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError, TransientError
from ml_connector.executors import results
from ml_connector.executors.schedule import DuePair, due_pairs
from ml_connector.flows.context import FlowSummary
from ml_connector.flows.runner import run_flow
from ml_connector.transport import stop as stopping
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

RUN_TASK = "ml_connector.run_pair"
DISPATCH_TASK = "ml_connector.dispatch"
STALLED_TASK = "ml_connector.retry_stalled"
QUEUE = "flows"
RUN_ATTEMPTS = 4  # a run that failed for a passing reason (Amazon or the ERP unreachable) tries again


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def conninfo(store_url: str) -> str:
    """The store's SQLAlchemy URL as the libpq connection string procrastinate's psycopg pool wants."""
    url = make_url(store_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "workers share their queue through PostgreSQL: set ML_CONNECTOR_DATABASE_URL (or [store] url) "
            "to a postgresql:// URL; with the embedded SQLite store run `ml-connector run` instead"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class RunFailedTransiently(TransientError):
    """A run that could not do its work for a passing reason; procrastinate retries the job."""


@dataclass
class WorkerContext:
    """What the jobs of one worker process share: the store, the configuration, the clock."""

    store: Store
    config: DeploymentConfig
    clock: Clock
    on_summary: Callable[[FlowSummary], None] | None = None
    heartbeat_timeout: float = 90.0  # real seconds without a heartbeat before a worker counts as dead
    checkpoint: Callable[[str], None] | None = None  # crash tests: called after each posting step
    summaries: list[FlowSummary] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, connection: str, flow: str, job_id: int | None = None) -> dict[str, Any]:
        try:
            summary = run_flow(
                self.store,
                self.config.connection(connection),
                flow,
                clock=self.clock,
                heartbeat=self.config.run.heartbeat,
                checkpoint=self.checkpoint,
            )
        except stopping.Interrupted:
            # This worker is stopping (SIGTERM/SIGINT): the run released its claims and lease at a
            # safe point; the job goes back to the queue for another worker (or this one, restarted).
            raise RunFailedTransiently(f"{flow} on {connection} stopped with its worker") from None
        if job_id is not None:  # for a `sync --queue` waiting on this job
            results.keep(self.store, summary, job_id)
        with self._lock:
            self.summaries.append(summary)
        if self.on_summary:
            self.on_summary(summary)
        if summary.counts.get("run_failed") and summary.facts.get("transient"):
            raise RunFailedTransiently(summary.notes[-1] if summary.notes else f"{flow} on {connection}")
        return dict(summary.counts)


class ProjectBackoff(procrastinate.BaseRetryStrategy):
    """The project's one retry policy (full-jitter exponential backoff), applied to whole runs."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if not isinstance(exception, TransientError) or job.attempts + 1 >= RUN_ATTEMPTS:
            return None
        # procrastinate's TimeDeltaParams says int, but it builds a timedelta, which takes float seconds
        return RetryDecision(retry_in={"seconds": self.policy.backoff(job.attempts)})  # type: ignore[call-overload]


class QueueExecutor:
    """Builds the procrastinate app for one store and defers, dispatches and runs its jobs."""

    def __init__(
        self,
        store_url: str | None,
        context: WorkerContext | None = None,
        *,
        dispatch_every: int = 5,
        retry: RetryPolicy | None = None,
        connector: procrastinate.connector.BaseConnector | None = None,  # tests: InMemoryConnector
        periodic: bool = True,  # tests of the job layer dispatch by hand
    ) -> None:
        if not 1 <= dispatch_every <= 59:
            raise ConfigurationError("dispatch_every is a number of seconds from 1 to 59")
        if connector is None:
            if store_url is None:
                raise ConfigurationError("the queue needs the store's PostgreSQL URL")
            connector = procrastinate.PsycopgConnector(conninfo=conninfo(store_url))
        self.context = context
        self.app = procrastinate.App(connector=connector)
        backoff = ProjectBackoff(retry or RetryPolicy(attempts=RUN_ATTEMPTS, base=2.0, cap=60.0))
        self.run_pair = self.app.task(name=RUN_TASK, queue=QUEUE, retry=backoff, pass_context=True)(
            self._run_pair
        )
        dispatch = self.app.task(name=DISPATCH_TASK, queue=QUEUE, queueing_lock=DISPATCH_TASK)(self._dispatch)
        stalled = self.app.task(name=STALLED_TASK, queue=QUEUE, queueing_lock=STALLED_TASK)(
            self._retry_stalled
        )
        if periodic:
            self.app.periodic(cron=f"* * * * * */{dispatch_every}", periodic_id="tick")(dispatch)
            self.app.periodic(cron="* * * * * */10", periodic_id="tick")(stalled)

    # --- jobs ----------------------------------------------------------------------------------

    def _need_context(self) -> WorkerContext:
        if self.context is None:
            raise ConfigurationError("this process defers jobs only; start `ml-connector worker` to run them")
        return self.context

    def _run_pair(self, job_context: procrastinate.JobContext, connection: str, flow: str) -> dict[str, Any]:
        return self._need_context().run(connection, flow, job_id=job_context.job.id)

    def _dispatch(self, timestamp: int) -> int:
        """Defer every due pair that has no job waiting or running (nor an earlier flow of its
        connection: the dependency order of `sync`).

        The active jobs are read before the schedule: a job fetched but not yet recorded as a run
        still counts, so a pair is never queued a second time for the due time it is being run for."""
        ctx = self._need_context()
        active = self.active_locks()
        deferred = 0
        for pair in due_pairs(ctx.store, ctx.config, ctx.store.now(), active=active):
            if self.defer(pair) is not None:
                deferred += 1
        return deferred

    def active_locks(self) -> set[str]:
        """The pairs with a run job waiting or in progress."""
        manager = self.app.job_manager
        return {
            job.lock
            for status in ("todo", "doing")
            for job in manager.list_jobs(queue=QUEUE, task=RUN_TASK, status=status)
            if job.lock
        }

    async def _retry_stalled(self, timestamp: int) -> int:
        """Jobs of a worker that stopped sending heartbeats go back to the queue for another."""
        ctx = self._need_context()
        stalled = await self.app.job_manager.get_stalled_jobs(
            queue=QUEUE, task_name=RUN_TASK, seconds_since_heartbeat=ctx.heartbeat_timeout
        )
        for job in stalled:
            log.warning("job %s (%s) was left by a dead worker; queued again", job.id, job.lock)
            await self.app.job_manager.retry_job(job)
        return len(list(stalled))

    # --- deferring -------------------------------------------------------------------------------

    def defer(self, pair: DuePair) -> int | None:
        """Queue one run of the pair; None when one is already waiting."""
        try:
            return self.run_pair.configure(lock=pair.lock, queueing_lock=pair.lock).defer(
                connection=pair.connection.name, flow=pair.flow
            )
        except AlreadyEnqueued:
            return None

    def queue_pair(self, pair: DuePair) -> tuple[int, bool]:
        """`sync --queue`: the pair's job, deferred now (True) or the one already waiting (False)."""
        job = self.defer(pair)
        if job is not None:
            return job, True
        waiting = self.app.job_manager.list_jobs(queueing_lock=pair.lock, status="todo")
        ids = [j.id for j in waiting if j.id is not None]
        if ids:
            return ids[0], False
        return self.queue_pair(pair)  # it started meanwhile: the lock frees the queueing lock

    def job(self, job_id: int) -> procrastinate.jobs.Job:
        (job,) = self.app.job_manager.list_jobs(id=job_id)
        return job

    # --- working --------------------------------------------------------------------------------

    def work(
        self, *, concurrency: int = 1, wait: bool = True, on_stop: Callable[[str], None] | None = None
    ) -> None:
        """Run a worker until SIGTERM or SIGINT. A stop is honoured by the runs in progress at their
        next safe point (``transport.stop``: claims and leases released, the run ``interrupted``, the
        job queued again for another worker); the worker then leaves. A second signal stops at once."""
        asyncio.run(self._work(concurrency=concurrency, wait=wait, on_stop=on_stop))

    async def _work(self, *, concurrency: int, wait: bool, on_stop: Callable[[str], None] | None) -> None:
        ctx = self._need_context()
        beat = ctx.heartbeat_timeout
        worker = procrastinate.worker.Worker(
            self.app,
            queues=[QUEUE],
            concurrency=concurrency,
            wait=wait,
            install_signal_handlers=False,  # ours below: the runs must stop at a safe point first
            update_heartbeat_interval=max(0.5, beat / 6),
            stalled_worker_timeout=beat,
            name="ml-connector",
        )
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            name = signal.Signals(signum).name
            if stopping.requested():
                raise stopping.Interrupted(name)
            if on_stop is not None:
                on_stop(name)
            stopping.request(name)
            worker.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        async with self.app.open_async():
            await worker.run()
