"""Who did what, when: operator actions recorded in the store, and on the record's trail too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ml_connector.engine.models import Connection, OpsEvent
from ml_connector.engine.store import Store


@dataclass(frozen=True)
class ActionEvent:
    at: datetime
    actor: str
    action: str
    connection: str | None
    record_id: int | None
    message: str | None


def record_action(
    store: Store,
    actor: str,
    action: str,
    *,
    connection: str | None = None,
    record_id: int | None = None,
    message: str | None = None,
) -> None:
    """One ops event; an action on a record is also appended to that record's audit trail."""
    with store.session() as s:
        connection_id = None
        if connection:
            connection_id = s.scalars(
                select(Connection.id).where(Connection.name == connection)
            ).one_or_none()
        s.add(
            OpsEvent(
                at=store.now(),
                actor=actor[:100],
                action=action,
                connection_id=connection_id,
                record_id=record_id,
                message=message,
            )
        )
        if record_id is not None:
            store.add_event(record_id, action, message=message, actor=actor[:64], session=s)


def recent_actions(
    store: Store, *, connection: str | None = None, action: str | None = None, limit: int = 50
) -> list[ActionEvent]:
    with store.session() as s:
        query = (
            select(OpsEvent, Connection.name)
            .outerjoin(Connection, Connection.id == OpsEvent.connection_id)
            .order_by(OpsEvent.id.desc())
            .limit(limit)
        )
        if connection:
            query = query.where(Connection.name == connection)
        if action:
            query = query.where(OpsEvent.action == action)
        return [
            ActionEvent(e.at, e.actor, e.action, name, e.record_id, e.message) for e, name in s.execute(query)
        ]
