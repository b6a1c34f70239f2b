"""Status from aggregates: record counts and each pair's latest run, kept by the database.

``status`` and ``records`` counted every record (a GROUP BY over ``records``) and found the newest
run of each pair by grouping ``runs``: both grew with the business. Triggers keep
``record_counts`` (records per connection, flow, kind and state) and ``latest_runs`` (the newest
run id per connection and flow) as rows are written, so both commands read a few rows whatever
the size of the store. Decrements are plain UPDATEs (a purge that already deleted the counts finds
nothing to decrement); increments are upserts. Existing rows are counted once here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY = "connection_id, flow, kind, state"
ADD = (
    "INSERT INTO record_counts (connection_id, flow, kind, state, n) "
    "VALUES (NEW.connection_id, NEW.flow, NEW.kind, NEW.state, 1) "
    f"ON CONFLICT ({KEY}) DO UPDATE SET n = record_counts.n + 1;"
)
REMOVE = (
    "UPDATE record_counts SET n = n - 1 WHERE connection_id = OLD.connection_id AND flow = OLD.flow "
    "AND kind = OLD.kind AND state = OLD.state;"
)
LATEST = (
    "INSERT INTO latest_runs (connection_id, flow, run_id) VALUES (NEW.connection_id, NEW.flow, NEW.id) "
    "ON CONFLICT (connection_id, flow) DO UPDATE SET run_id = excluded.run_id "
    "WHERE latest_runs.run_id < excluded.run_id;"
)
CHANGED = (
    "OLD.state IS NOT NEW.state OR OLD.flow IS NOT NEW.flow OR OLD.kind IS NOT NEW.kind "
    "OR OLD.connection_id IS NOT NEW.connection_id"
)
PG_CHANGED = CHANGED.replace("IS NOT", "IS DISTINCT FROM")

SQLITE = [
    f"CREATE TRIGGER record_counts_insert AFTER INSERT ON records BEGIN {ADD} END",
    f"CREATE TRIGGER record_counts_update AFTER UPDATE ON records WHEN {CHANGED} BEGIN {REMOVE} {ADD} END",
    f"CREATE TRIGGER record_counts_delete AFTER DELETE ON records BEGIN {REMOVE} END",
    f"CREATE TRIGGER latest_runs_insert AFTER INSERT ON runs BEGIN {LATEST} END",
]
PG = [
    "CREATE OR REPLACE FUNCTION record_counts_keep() RETURNS trigger AS $$ BEGIN "
    f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {REMOVE} END IF; "
    f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {ADD} END IF; "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER record_counts_insert_delete AFTER INSERT OR DELETE ON records "
    "FOR EACH ROW EXECUTE FUNCTION record_counts_keep()",
    "CREATE TRIGGER record_counts_update AFTER UPDATE ON records "
    f"FOR EACH ROW WHEN ({PG_CHANGED}) EXECUTE FUNCTION record_counts_keep()",
    f"CREATE OR REPLACE FUNCTION latest_runs_keep() RETURNS trigger AS $$ BEGIN {LATEST} "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER latest_runs_insert AFTER INSERT ON runs FOR EACH ROW EXECUTE FUNCTION latest_runs_keep()",
]


def upgrade() -> None:
    op.create_table(
        "record_counts",
        sa.Column("connection_id", sa.Integer(), sa.ForeignKey("connections.id"), primary_key=True),
        sa.Column("flow", sa.String(50), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(20), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_table(
        "latest_runs",
        sa.Column("connection_id", sa.Integer(), sa.ForeignKey("connections.id"), primary_key=True),
        sa.Column("flow", sa.String(50), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
    )
    op.execute(f"INSERT INTO record_counts ({KEY}, n) SELECT {KEY}, count(*) FROM records GROUP BY {KEY}")
    op.execute(
        "INSERT INTO latest_runs (connection_id, flow, run_id) "
        "SELECT connection_id, flow, max(id) FROM runs GROUP BY connection_id, flow"
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":  # a few rows updated on every post: room on the page for HOT updates
        op.execute("ALTER TABLE record_counts SET (fillfactor = 50)")
        op.execute("ALTER TABLE latest_runs SET (fillfactor = 50)")
    for statement in SQLITE if dialect == "sqlite" else PG if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in (
            "record_counts_insert",
            "record_counts_update",
            "record_counts_delete",
            "latest_runs_insert",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS record_counts_insert_delete ON records")
        op.execute("DROP TRIGGER IF EXISTS record_counts_update ON records")
        op.execute("DROP TRIGGER IF EXISTS latest_runs_insert ON runs")
        op.execute("DROP FUNCTION IF EXISTS record_counts_keep()")
        op.execute("DROP FUNCTION IF EXISTS latest_runs_keep()")
    op.drop_table("latest_runs")
    op.drop_table("record_counts")
