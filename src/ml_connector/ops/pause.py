"""Pausing a connection: while paused, the runner starts none of its flows (sync, run, run now)."""

from __future__ import annotations

from sqlalchemy import delete, select

from ml_connector.engine.dialect import insert_ignore, rowcount
from ml_connector.engine.models import Connection, ConnectionPause
from ml_connector.engine.store import Store
from ml_connector.flows.context import FlowSummary


def pause(store: Store, connection: str, *, by: str, reason: str | None = None) -> bool:
    """True when the connection was running and is now paused."""
    with store.session() as s:
        conn = store._connection(s, connection)
        values = {"connection_id": conn.id, "paused_at": store.now(), "paused_by": by, "reason": reason}
        return insert_ignore(s, ConnectionPause, values, ["connection_id"])


def resume(store: Store, connection: str) -> bool:
    """True when the connection was paused and now runs again."""
    with store.session() as s:
        conn = store._connection(s, connection)
        return (
            rowcount(s.execute(delete(ConnectionPause).where(ConnectionPause.connection_id == conn.id))) == 1
        )


def paused_connections(store: Store) -> dict[str, ConnectionPause]:
    with store.session() as s:
        rows = s.execute(
            select(Connection.name, ConnectionPause).join(
                ConnectionPause, ConnectionPause.connection_id == Connection.id
            )
        )
        return {name: p for name, p in rows}


def paused_summary(store: Store, connection: str, flow: str) -> FlowSummary | None:
    """What the runner returns instead of running a flow of a paused connection (None: not paused)."""
    pause_ = paused_connections(store).get(connection)
    if pause_ is None:
        return None
    summary = FlowSummary(flow, connection)
    summary.count("skipped_paused")
    summary.notes.append(
        f"connection {connection} is paused (by {pause_.paused_by}); resume it in the console "
        f"or with `ml-connector resume {connection}`"
    )
    return summary
