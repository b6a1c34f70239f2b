"""Running flows: once (`sync`) or on their cadences until stopped (`run`).

Each (connection, flow) run holds the store's lease, so two workers never run the same flow of the
same connection at once; each opens its own clients and always closes them (Acumatica sessions count
against the licence). A flow that fails for a whole connection (bad credentials, Amazon unreachable)
is reported and the others still run; so is any other exception (see ``run_flow``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from ml_connector.clock import Clock
from ml_connector.config import ConnectionConfig, DeploymentConfig
from ml_connector.engine.lease import LeaseHeld
from ml_connector.engine.store import DEFAULT_HEARTBEAT, Store, new_owner, one_line
from ml_connector.errors import MlConnectorError, TransientError
from ml_connector.flows import registry
from ml_connector.flows.context import FlowSummary, Progress, open_context
from ml_connector.ops.pause import paused_summary
from ml_connector.transport import stop as stopping

log = logging.getLogger(__name__)

ProgressFactory = Callable[[], Progress]
OUTAGE_BUDGET = 60.0  # real seconds a unit waits for the store to come back before the command ends


class StoreUnavailable(MlConnectorError):
    """The store stayed unreachable longer than a blip: the command ends with one line."""


def connections_of(config: DeploymentConfig, name: str | None) -> list[ConnectionConfig]:
    return [config.connection(name)] if name else list(config.connections)


def flows_of(connection: ConnectionConfig, requested: Iterable[str] | None) -> list[str]:
    """The connection's flows (or those of them requested), in the registry's dependency order."""
    wanted = set(requested) if requested else set(connection.flows)
    return registry.in_order(wanted & set(connection.flows))


def run_flow(
    store: Store,
    connection: ConnectionConfig,
    flow: str,
    *,
    clock: Clock,
    since: datetime | None = None,
    progress: Progress | None = None,
    checkpoint: Callable[[str], None] | None = None,
    heartbeat: timedelta = DEFAULT_HEARTBEAT,
    outage_budget: float = OUTAGE_BUDGET,
) -> FlowSummary:
    """One run of one flow on one connection, under the lease: the unit of work.

    Whatever goes wrong inside stays inside: any exception is caught here, the run is recorded
    ``failed`` with a one-line reason (the traceback goes to the log) and the caller goes on with
    the next unit. A store outage (the database restarting, a dropped connection) is waited out
    with backoff and the unit run again under the same owner, so it takes back its own lease and
    claims at once; an outage longer than ``outage_budget`` seconds raises ``StoreUnavailable``,
    which ends the command with one line. A stop request (SIGTERM, Ctrl-C) propagates."""
    stopping.checkpoint()  # a stop requested between two units ends the command here
    owner = new_owner()
    waited, pause = 0.0, 0.5
    while True:
        try:
            return _run_unit(store, connection, flow, clock, since, progress, checkpoint, heartbeat, owner)
        except Exception as exc:
            if not is_store_outage(exc):
                raise
            if waited >= outage_budget:
                raise StoreUnavailable(
                    f"the store is unreachable ({one_line(exc, 160)}); still down after {waited:.0f}s, "
                    "check the database server and run again"
                ) from None
            log.warning(
                "%s %s: store unreachable (%s); retrying in %.1fs",
                connection.name,
                flow,
                type(exc).__name__,
                pause,
            )
            time.sleep(pause)  # real time: the database does not run on the sandbox clock
            waited += pause
            pause = min(pause * 2, 8.0)


def _run_unit(
    store: Store,
    connection: ConnectionConfig,
    flow: str,
    clock: Clock,
    since: datetime | None,
    progress: Progress | None,
    checkpoint: Callable[[str], None] | None,
    heartbeat: timedelta,
    owner: str,
) -> FlowSummary:
    if (paused := paused_summary(store, connection.name, flow)) is not None:  # paused in the console
        return paused
    try:
        with store.run(connection.name, flow, ttl=heartbeat, owner=owner):
            ctx = open_context(
                store,
                connection,
                clock=clock,
                since=since,
                progress=progress,
                checkpoint=checkpoint,
                owner=owner,
                heartbeat=heartbeat,
            )
            try:
                return registry.flow(flow)(ctx)
            finally:
                ctx.close()
    except LeaseHeld as exc:
        summary = FlowSummary(flow, connection.name)
        summary.count("skipped_lease_held")
        summary.notes.append(str(exc))
        return summary
    except MlConnectorError as exc:
        log.warning("%s %s: %s", connection.name, flow, exc)
        summary = FlowSummary(flow, connection.name)
        summary.count("run_failed")
        summary.notes.append(str(exc))  # the error's own words; class names are not for the screen
        summary.facts["transient"] = isinstance(exc, TransientError)  # worth a retry (the queue's)
        return summary
    except Exception as exc:
        if is_store_outage(exc):
            raise
        log.error("%s %s: the run failed: %s", connection.name, flow, one_line(exc), exc_info=True)
        summary = FlowSummary(flow, connection.name)
        summary.count("run_failed")
        summary.notes.append(f"the run failed: {one_line(exc)} (the traceback is in the log)")
        return summary


def is_store_outage(exc: BaseException) -> bool:
    """A database that went away (restart, network, too many connections), not a bug in a query."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc.__cause__ or exc.__context__, OperationalError) and not isinstance(
        exc, MlConnectorError
    )


def sync(
    store: Store,
    config: DeploymentConfig,
    *,
    flows: Iterable[str] | None = None,
    connection: str | None = None,
    since: datetime | None = None,
    clock: Clock | None = None,
    progress: ProgressFactory | None = None,
    on_summary: Callable[[FlowSummary], None] | None = None,
) -> list[FlowSummary]:
    """Every requested flow once, connection by connection, in dependency order."""
    clock = clock or Clock(config.time_scale)
    summaries = []
    requested = list(flows) if flows else None
    for conn in connections_of(config, connection):
        for name in flows_of(conn, requested):
            summary = run_flow(
                store,
                conn,
                name,
                clock=clock,
                since=since,
                progress=progress() if progress else None,
                heartbeat=config.run.heartbeat,
            )
            summaries.append(summary)
            if on_summary:
                on_summary(summary)
    return summaries


def run_forever(
    store: Store,
    config: DeploymentConfig,
    stop: threading.Event,
    *,
    connection: str | None = None,
    clock: Clock | None = None,
    on_summary: Callable[[FlowSummary], None] | None = None,
    max_idle: float = 30.0,
) -> int:
    """Run each connection's flows on their cadences, in this process, until ``stop`` is set.

    The schedule is the one every executor uses (``executors.schedule``): a pair is due when it
    never ran, its worker died, or a cadence has passed since its last run ended; each pass runs
    every due pair once, each connection's flows in dependency order. The CLI turns SIGTERM and Ctrl-C into a stop request
    (``transport.stop``), honoured at the next safe point with ``Interrupted``: the posting in
    progress releases its claim, the run is recorded ``interrupted`` and its lease released.
    Returns the number of runs."""
    from ml_connector.executors.schedule import due_pairs, next_due

    clock = clock or Clock(config.time_scale)
    runs = 0
    while not stop.is_set():
        due = due_pairs(store, config, store.now(), connection=connection, one_per_connection=False)
        for pair in due:
            if stop.is_set():
                break
            summary = run_flow(store, pair.connection, pair.flow, clock=clock, heartbeat=config.run.heartbeat)
            runs += 1
            if on_summary:
                on_summary(summary)
        if due:
            continue  # the next flows of each connection may be due now
        wait = next_due(store, config, store.now(), connection=connection)
        stop.wait(min(wait / store.clock.scale, max_idle))
    return runs
