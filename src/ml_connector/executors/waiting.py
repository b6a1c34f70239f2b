"""`sync FLOW --queue`: the runs go to the PostgreSQL queue's workers; this process waits for them.

Each connection's flows are queued one after another in the registry's dependency order (the next
once the previous has ended, as an inline `sync` runs them); connections go in parallel, each on
whichever worker takes it. A pair that already has a job waiting is not queued twice: that job is
waited for. While waiting, a line says what changed (queued, running, retrying); once a job ends,
the run's summary (written by the worker, ``executors.results``) is handed on, the same summary an
inline `sync` prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import text

from ml_connector.config import DeploymentConfig
from ml_connector.engine.store import Store
from ml_connector.errors import MlConnectorError
from ml_connector.executors import results
from ml_connector.executors.queue import QueueExecutor
from ml_connector.executors.schedule import DuePair
from ml_connector.flows.context import FlowSummary
from ml_connector.flows.runner import connections_of, flows_of

ENDED = {"succeeded", "failed", "cancelled", "aborted"}
NO_WORKER_AFTER = 5.0  # real seconds queued with no live worker before saying so


class StoppedWaiting(MlConnectorError):
    """Ctrl-C or SIGTERM while waiting: the queued runs go on in the workers."""


@dataclass
class _Waiting:
    pair: DuePair
    job: int
    since: float
    state: tuple[str | None, int] = (None, 0)


def _words(pair: DuePair, job: int, status: str | None, attempts: int) -> str:
    if status == "todo":
        what = "queued" if attempts == 0 else f"failed for a passing reason; retry {attempts + 1} queued"
    elif status == "doing":
        what = "running" + (f" (attempt {attempts})" if attempts > 1 else "")
    else:
        what = {"succeeded": "done", "failed": "failed"}.get(status or "", status or "unknown")
    return f"{pair.lock}: {what} (job {job})"


def live_workers(store: Store, within: float) -> int:
    """Workers whose heartbeat is newer than ``within`` real seconds (procrastinate's own table)."""
    with store.engine.connect() as c:
        return int(
            c.execute(
                text(
                    "SELECT count(*) FROM procrastinate_workers "
                    "WHERE last_heartbeat > now() - make_interval(secs => :s)"
                ),
                {"s": within},
            ).scalar()
            or 0
        )


def sync_queued(
    executor: QueueExecutor,
    store: Store,
    config: DeploymentConfig,
    *,
    flows: Iterable[str] | None,
    connection: str | None,
    say: Callable[[str], None],
    on_summary: Callable[[FlowSummary], None],
    stop: threading.Event,
    poll: float = 0.3,
) -> list[FlowSummary]:
    """Queue the requested runs, wait for each, and return their summaries (in the order they end)."""
    requested = list(flows) if flows else None
    chains = {
        conn.name: [DuePair(conn, flow) for flow in flows_of(conn, requested)]
        for conn in connections_of(config, connection)
    }
    waiting: dict[str, _Waiting] = {}
    summaries: list[FlowSummary] = []
    heartbeat = config.run.heartbeat.total_seconds()
    told_no_worker = False

    def queue_next(name: str) -> None:
        if not chains[name]:
            return
        pair = chains[name].pop(0)
        job, new = executor.queue_pair(pair)
        waiting[name] = _Waiting(pair, job, time.monotonic())
        if not new:
            say(f"{pair.lock}: a run was already queued (job {job}); waiting for it")

    for name in chains:
        queue_next(name)
    if not waiting:
        return summaries
    say(f"queued {len(waiting)} run(s) for the workers; waiting (Ctrl-C stops waiting, not the runs)")
    while waiting:
        if stop.is_set():
            left = ", ".join(w.pair.lock for w in waiting.values())
            raise StoppedWaiting(f"stopped waiting for {left}: the queued runs go on in the workers")
        for name, w in list(waiting.items()):
            job = executor.job(w.job)
            state = (job.status, job.attempts)
            if state != w.state:
                w.state = state
                say(_words(w.pair, w.job, job.status, job.attempts))
            if job.status not in ENDED:
                continue
            summary = results.read(store, w.pair.connection.name, w.pair.flow, w.job)
            if summary is None:
                summary = FlowSummary(w.pair.flow, w.pair.connection.name)
                if job.status != "succeeded":
                    summary.count("run_failed")
                summary.notes.append(
                    f"job {w.job} {job.status} without a summary (see the worker's log and `ml-connector status`)"
                )
            summaries.append(summary)
            on_summary(summary)
            del waiting[name]
            queue_next(name)
        if not told_no_worker and any(
            w.state[0] == "todo" and time.monotonic() - w.since > NO_WORKER_AFTER for w in waiting.values()
        ):
            told_no_worker = True
            if live_workers(store, heartbeat) == 0:
                say("no worker is running: start `ml-connector worker` (the runs stay queued until one does)")
        stop.wait(poll)
    return summaries
