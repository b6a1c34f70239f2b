"""When each (connection, flow) pair is due: one cadence after its last run ended, read from the store.

The store's runs are the schedule's memory, so every executor and every worker, on any machine, agrees
on what is due without talking to the others. Cadences are in simulated time (the config's
``time_scale`` speeds the sandboxes and the clients up); the store's timestamps are wall-clock, so a
cadence counts ``cadence / time_scale`` real seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ml_connector.config import ConnectionConfig, DeploymentConfig
from ml_connector.engine.store import LatestRun, Store
from ml_connector.flows.runner import connections_of, flows_of


@dataclass(frozen=True)
class DuePair:
    connection: ConnectionConfig
    flow: str

    @property
    def lock(self) -> str:
        """The name two runs of this pair can never hold at once (procrastinate's lock)."""
        return f"{self.connection.name}:{self.flow}"


def pairs(config: DeploymentConfig, connection: str | None = None) -> list[DuePair]:
    """Every (connection, flow) pair in dependency order, connection by connection."""
    return [
        DuePair(conn, flow) for conn in connections_of(config, connection) for flow in flows_of(conn, None)
    ]


def real_cadence(config: DeploymentConfig, connection: ConnectionConfig, flow: str) -> timedelta:
    return connection.cadence_of(flow) / config.time_scale


def due_pairs(
    store: Store,
    config: DeploymentConfig,
    now: datetime,
    *,
    connection: str | None = None,
    active: frozenset[str] | set[str] = frozenset(),
) -> list[DuePair]:
    """The pairs to start now: due (never ran, their worker died, or a cadence has passed since their
    last run ended) and not held back by their connection's earlier flows.

    Within a connection the flows keep their dependency order (items before orders, orders before
    shipments and settlements, reconcile last), as `sync` runs them: a pair waits while an earlier flow
    of its connection is due, waiting in the queue or running (``active``: locks of queued or running
    jobs). Connections never wait for each other."""
    latest = store.latest_runs()
    due = []
    for conn in connections_of(config, connection):
        for flow in flows_of(conn, None):
            pair = DuePair(conn, flow)
            last = latest.get((conn.name, flow))
            running = pair.lock in active or (
                last is not None and last.finished_at is None and last.lease_held
            )
            if running:
                break  # this flow is at work: the later ones of this connection wait for it
            if _is_due(config, pair, last, now):
                due.append(pair)
                break  # the later flows start once this one has run
    return due


def _is_due(config: DeploymentConfig, pair: DuePair, last: LatestRun | None, now: datetime) -> bool:
    if last is None or (last.finished_at is None and not last.lease_held):
        return True  # never ran, or its worker died mid-run (the lease lapsed)
    if last.finished_at is None:
        return False
    return last.finished_at + real_cadence(config, pair.connection, pair.flow) <= now


def next_due(
    store: Store, config: DeploymentConfig, now: datetime, *, connection: str | None = None
) -> float:
    """Seconds (real) until the next pair is due; 0 when one is due now."""
    latest = store.latest_runs()
    waits = []
    for pair in pairs(config, connection):
        last = latest.get((pair.connection.name, pair.flow))
        if last is None or (last.finished_at is None and not last.lease_held):
            waits.append(0.0)
            continue
        if last.finished_at is None:  # running now: due one cadence after it ends at the earliest
            waits.append(real_cadence(config, pair.connection, pair.flow).total_seconds())
            continue
        at = last.finished_at + real_cadence(config, pair.connection, pair.flow)
        waits.append(max(0.0, (at - now).total_seconds()))
    return min(waits, default=30.0)
