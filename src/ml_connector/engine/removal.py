"""`ml-connector connection remove NAME`: a connection made by mistake can be taken out again.

Two explicit choices, never a default:
- keep the records: the credentials and cursors go, the connection's name stays in the store
  (marked removed) so its records and their audit trail remain readable; `connect` with the same
  name brings it back;
- purge the records: everything of the connection goes, audit trail included. The trail is
  append-only by design (database triggers), so the purge lifts that guard for its one transaction
  only and puts it back before committing: a crash in between rolls everything back, guard included.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData, delete, select, text

from ml_connector.engine.models import Connection, Credential, Cursor, Record
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError

SQLITE_GUARDS = ("audit_events_no_update", "audit_events_no_delete")
PG_GUARD = "audit_events_append_only"


@dataclass(frozen=True)
class Removal:
    name: str
    records: int
    purged: bool


def remove_connection(store: Store, name: str, *, purge_records: bool) -> Removal:
    with store.session() as s:
        conn = s.scalars(select(Connection).where(Connection.name == name)).one_or_none()
        if conn is None:
            names = ", ".join(s.scalars(select(Connection.name).order_by(Connection.name))) or "none"
            raise ConfigurationError(f"no connection named {name!r}; the connections are {names}")
        count = len(list(s.scalars(select(Record.id).where(Record.connection_id == conn.id))))
        if not purge_records:
            s.execute(delete(Credential).where(Credential.connection_id == conn.id))
            s.execute(delete(Cursor).where(Cursor.connection_id == conn.id))
            conn.settings = {"removed": store.now().isoformat()}
            return Removal(name, count, purged=False)
        bind = s.connection()
        metadata = MetaData()
        metadata.reflect(bind=bind)  # every table, those added by later migrations included
        dialect = bind.dialect.name
        guards: list[str] = []
        if dialect == "sqlite":
            for guard in SQLITE_GUARDS:
                sql = bind.execute(
                    text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"), {"n": guard}
                ).scalar()
                if sql:
                    guards.append(sql)
                    bind.execute(text(f"DROP TRIGGER {guard}"))
        elif dialect == "postgresql":
            bind.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {PG_GUARD}"))
        record_ids = select(Record.id).where(Record.connection_id == conn.id).scalar_subquery()
        for table in reversed(metadata.sorted_tables):  # children before parents
            if table.name in ("connections", "records"):
                continue
            if "record_id" in table.c:
                bind.execute(delete(table).where(table.c.record_id.in_(record_ids)))
        for table in reversed(metadata.sorted_tables):
            if table.name != "connections" and "connection_id" in table.c:
                bind.execute(delete(table).where(table.c.connection_id == conn.id))
        bind.execute(
            delete(metadata.tables["connections"]).where(metadata.tables["connections"].c.id == conn.id)
        )
        for sql in guards:
            bind.execute(text(sql))
        if dialect == "postgresql":
            bind.execute(text(f"ALTER TABLE audit_events ENABLE TRIGGER {PG_GUARD}"))
        return Removal(name, count, purged=True)
