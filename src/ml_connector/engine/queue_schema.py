"""procrastinate's tables in the store's PostgreSQL database, installed and upgraded by ``Store.open``.

procrastinate ships its schema (``schema.sql``) and one SQL file per schema change, named by the
version that made it (``03.04.00_01_pre_….sql``). The store records which procrastinate version its
database has; opening it with a newer procrastinate applies the change files in between, inside the
same transaction and advisory lock as the store's own Alembic migrations. SQLite has no queue.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection

VERSION_TABLE = "ml_connector_queue_schema"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def _version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text)
    if not match:
        raise ValueError(f"not a procrastinate version: {text!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def installed_version() -> str:
    import procrastinate.metadata

    return str(procrastinate.metadata.extract_metadata()["version"])


def owned_by_queue(name: str | None) -> bool:
    """Tables the store does not model itself (for the models-equal-migrations check)."""
    return name is not None and (name.startswith("procrastinate_") or name == VERSION_TABLE)


def _execute_script(connection: Connection, sql: str) -> None:
    # The driver sees parameter markers in '%'; procrastinate's scripts use it literally (RAISE '… %').
    connection.exec_driver_sql(sql.replace("%", "%%"))


def ensure(connection: Connection) -> None:
    """Install procrastinate's schema, or bring it up to the installed procrastinate (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    current = installed_version()
    connection.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version text NOT NULL)")
    recorded = connection.exec_driver_sql(f"SELECT version FROM {VERSION_TABLE}").scalar()
    if recorded is None:
        if connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
            _execute_script(connection, SchemaManager.get_schema())
        connection.exec_driver_sql(f"INSERT INTO {VERSION_TABLE} (version) VALUES ('{current}')")
        return
    if _version(recorded) >= _version(current):
        return
    for script in sorted(Path(SchemaManager.get_migrations_path()).glob("*.sql")):
        if _version(recorded) < _version(script.name) <= _version(current):
            _execute_script(connection, script.read_text(encoding="utf-8"))
    connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version = '{current}'")
