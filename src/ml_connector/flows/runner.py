"""Running flows: once (`sync`) or on their cadences until stopped (`run`).

Each (connection, flow) run holds the store's lease, so two workers never run the same flow of the
same connection at once; each opens its own clients and always closes them (Acumatica sessions count
against the licence). A flow that fails for a whole connection (bad credentials, Amazon unreachable)
is reported and the others still run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from ml_connector.config import ConnectionConfig, DeploymentConfig
from ml_connector.engine.lease import LeaseHeld
from ml_connector.engine.store import Store
from ml_connector.errors import MlConnectorError
from ml_connector.flows.context import FlowSummary, Progress, open_context
from ml_connector.flows.registry import flow as flow_named
from ml_connector.ops.pause import paused_summary
from ml_connector.transport.clock import Clock

log = logging.getLogger(__name__)

# Dependencies decide the order: orders before shipments (a shipment confirms a posted order) and
# before settlements (in invoice mode the journal clears the orders' invoices); reconcile last.
RUN_ORDER = ("items", "orders", "shipments", "stock_price", "settlements", "reconcile")

ProgressFactory = Callable[[], Progress]


def connections_of(config: DeploymentConfig, name: str | None) -> list[ConnectionConfig]:
    return [config.connection(name)] if name else list(config.connections)


def flows_of(connection: ConnectionConfig, requested: Iterable[str] | None) -> list[str]:
    wanted = set(requested) if requested else set(connection.flows)
    return [f for f in RUN_ORDER if f in wanted and f in connection.flows]


def run_flow(
    store: Store,
    connection: ConnectionConfig,
    flow: str,
    *,
    clock: Clock,
    since: datetime | None = None,
    progress: Progress | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> FlowSummary:
    """One run of one flow on one connection, under the lease."""
    if (paused := paused_summary(store, connection.name, flow)) is not None:  # paused in the console
        return paused
    try:
        with store.run(connection.name, flow):
            ctx = open_context(
                store, connection, clock=clock, since=since, progress=progress, checkpoint=checkpoint
            )
            try:
                return flow_named(flow)(ctx)
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
        summary.notes.append(f"{type(exc).__name__}: {exc}")
        return summary


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
                store, conn, name, clock=clock, since=since, progress=progress() if progress else None
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
    """Run each connection's flows on their cadences until ``stop`` is set (SIGTERM, Ctrl-C).

    Every flow is due at start; after a run it is due again one cadence later. A stop request is
    honoured between flow runs, never in the middle of a posting. Returns the number of runs."""
    clock = clock or Clock(config.time_scale)
    due: dict[tuple[str, str], float] = {}
    conns = connections_of(config, connection)
    for conn in conns:
        for name in flows_of(conn, None):
            due[(conn.name, name)] = clock.monotonic()
    runs = 0
    while not stop.is_set():
        now = clock.monotonic()
        for conn in conns:
            for name in flows_of(conn, None):
                if stop.is_set() or due[(conn.name, name)] > now:
                    continue
                summary = run_flow(store, conn, name, clock=clock)
                runs += 1
                due[(conn.name, name)] = clock.monotonic() + conn.cadence_of(name).total_seconds()
                if on_summary:
                    on_summary(summary)
        wait = max(0.0, min(due.values()) - clock.monotonic()) if due else max_idle
        stop.wait(min(wait, max_idle) / clock.scale)
    return runs
