"""Alembic environment: always run programmatically by ``engine.migrate`` on an open connection."""

from __future__ import annotations

from alembic import context

from ml_connector.engine.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only programmatic use is supported
    raise RuntimeError("ml-connector migrations run through ml_connector.engine.migrate.upgrade()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
