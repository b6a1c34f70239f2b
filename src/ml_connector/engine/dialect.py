"""The little that differs between SQLite and PostgreSQL: engine setup and INSERT ... ON CONFLICT."""

from __future__ import annotations

import select
import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

IDLE_CHECK = 30.0  # seconds a pooled PostgreSQL connection may sit idle before checkout pings it


def make_engine(url: str) -> Engine:
    """An engine whose transactions are safe for several writer processes.

    SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` so a transaction takes the write lock up
    front (a deferred transaction that reads and then writes can fail with "database is locked"
    instead of waiting); ``Store.autocommit`` connections get no BEGIN. PostgreSQL: no pre-ping per
    transaction (it doubled the round trips); a connection is checked on checkout instead (see
    ``_check_on_checkout``), and a disconnect seen by a statement invalidates the whole pool.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                _use_wal(cursor)
            cursor.close()

        @event.listens_for(engine, "checkout")
        def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # returning from `Store.autocommit`, SQLAlchemy's reset sets "" (the sqlite3 module's
            # own implicit BEGINs): back to None, so BEGIN IMMEDIATE stays the only BEGIN
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=False)
    event.listen(engine, "checkout", _check_on_checkout)
    event.listen(engine, "checkin", _note_checkin)
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _check_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A dead pooled connection is replaced before a transaction uses it, without a round trip
    for a connection in steady use: an idle connection has nothing to read, so a readable socket
    means the server closed it (a restart, a terminated backend). A connection idle for longer
    than ``IDLE_CHECK`` (a NAT or firewall may have dropped it silently) is pinged. Raising
    ``DisconnectionError`` makes the pool connect afresh (SQLAlchemy's documented recipe)."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:
        raise DisconnectionError(f"connection closed: {exc}") from exc
    if readable or dbapi_connection.closed:
        raise DisconnectionError("the server closed the connection")
    if time.monotonic() - record.info.get("idle_since", time.monotonic()) > IDLE_CHECK:
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # noqa: BLE001 - any failure: replace the connection
            raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc


def _use_wal(cursor: Any) -> None:
    """Switch to WAL once per database file. The switch needs an exclusive lock and SQLite does not
    wait for it (no busy handler), so two processes opening a fresh file at once retry briefly."""
    import sqlite3
    import time

    for attempt in range(200):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 199:
                raise
            time.sleep(0.01 * (1 + attempt % 10))


def insert_ignore(session: Session, model: Any, values: dict[str, Any], conflict: Sequence[str]) -> bool:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING``; True when the row was inserted.

    Uses RETURNING rather than rowcount: psycopg reports -1 for a statement SQLAlchemy executes
    through its insertmanyvalues path, and RETURNING answers the same way on both databases.
    """
    name = session.get_bind().dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if name == "postgresql":
        stmt = postgresql.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    elif name == "sqlite":
        stmt = sqlite.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    else:
        raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {name}")
    column = getattr(model, conflict[0])
    return session.execute(stmt.returning(column)).first() is not None


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched.

    ``Session.execute`` is typed as returning a plain ``Result``; for a DML statement it is a
    ``CursorResult``, the only kind that carries ``rowcount``.
    """
    return cast(CursorResult[Any], result).rowcount


def dialect_insert(bind: Any, model: Any) -> Any:
    """The dialect's own INSERT (with ``on_conflict_do_update`` and ``excluded``)."""
    name = bind.dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {name}")
