"""Runs the packaged Alembic migrations programmatically: ``Store.open`` brings any database to head.

No alembic.ini is needed: the script location is the ``migrations`` directory inside the package,
so an installed wheel migrates its users' databases the same way the repository does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from ml_connector.engine import queue_schema

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision`` inside one transaction (PostgreSQL: concurrent openers serialise)."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two workers opening a fresh database at once must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7316201)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if revision == "head":
            queue_schema.ensure(connection)  # procrastinate's tables, for the workers (PostgreSQL only)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
