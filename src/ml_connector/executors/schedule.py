"""When each (connection, flow) pair is due: one cadence after its last run ended, read from the store.

The store's runs are the schedule's memory, so every executor and every worker, on any machine, agrees
on what is due without talking to the others. Cadences are in simulated time (the config's
``time_scale`` speeds the sandboxes and the clients up); the store's timestamps are wall-clock, so a
cadence counts ``cadence / time_scale`` real seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def real_cadence(
    config: DeploymentConfig, connection: ConnectionConfig, flow: str, store_scale: float = 1.0
) -> timedelta:
    """The cadence on the store's clock: a wall-clock store (the CLI's) counts ``cadence / time_scale``;
    a store on the sandboxes' scaled clock (tests, the demo) counts the cadence as it is."""
    return connection.cadence_of(flow) * store_scale / config.time_scale


def due_pairs(
    store: Store,
    config: DeploymentConfig,
    now: datetime,
    *,
    connection: str | None = None,
    active: frozenset[str] | set[str] = frozenset(),
    one_per_connection: bool = True,
) -> list[DuePair]:
    """The pairs to start now: due (never ran, their worker died, or a cadence has passed since
    their last run ended) and not running.

    ``one_per_connection`` (the queue): a connection runs one flow at a time, as `sync` runs them,
    so its flows keep their dependency order (items before orders, orders before shipments and
    settlements, reconcile last); of its due flows the one that has waited longest goes first
    (never-run flows in dependency order), so no flow starves another. Otherwise (one process
    running pairs one after another) every due pair, in dependency order. ``active``: the locks of
    queued or running jobs. Connections never wait for each other."""
    latest = store.latest_runs()
    due = []
    for conn in connections_of(config, connection):
        candidates: list[tuple[datetime, int, DuePair]] = []
        busy = False
        for index, flow in enumerate(flows_of(conn, None)):
            pair = DuePair(conn, flow)
            last = latest.get((conn.name, flow))
            if pair.lock in active or (last is not None and last.finished_at is None and last.lease_held):
                busy = True
                continue
            when = _due_at(config, pair, last, store.clock.scale)
            if when <= now:
                candidates.append((when, index, pair))
        if one_per_connection:
            if candidates and not busy:
                due.append(min(candidates, key=lambda c: (c[0], c[1]))[2])
        else:
            due.extend(pair for _, _, pair in sorted(candidates, key=lambda c: c[1]))
    return due


NEVER = datetime.min.replace(tzinfo=UTC)


def _due_at(config: DeploymentConfig, pair: DuePair, last: LatestRun | None, store_scale: float) -> datetime:
    """When the pair falls due on the store's clock (``NEVER``: due since always)."""
    if last is None or last.finished_at is None:
        return NEVER  # never ran, or its worker died mid-run (the lease lapsed: it is not running)
    return last.finished_at + real_cadence(config, pair.connection, pair.flow, store_scale)


def next_due(
    store: Store, config: DeploymentConfig, now: datetime, *, connection: str | None = None
) -> float:
    """Seconds on the store's clock until the next pair falls due (0 when one is due now)."""
    latest = store.latest_runs()
    waits = []
    for pair in pairs(config, connection):
        last = latest.get((pair.connection.name, pair.flow))
        cadence = real_cadence(config, pair.connection, pair.flow, store.clock.scale)
        if last is None or (last.finished_at is None and not last.lease_held):
            waits.append(0.0)
        elif last.finished_at is None:  # running now: due one cadence after it ends at the earliest
            waits.append(cadence.total_seconds())
        else:
            waits.append(max(0.0, (last.finished_at + cadence - now).total_seconds()))
    return min(waits, default=30.0)
