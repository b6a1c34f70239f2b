"""A lean store: the claim's upsert remembers the holder it replaced; indexes for flat reads.

- ``records.claim_previous``: set by the one-statement claim (a takeover when not this owner).
- ``ix_records_connection_flow_kind_state`` replaces ``ix_records_connection_flow_state``:
  ``status`` counts records per (connection, flow, kind, state) from the index alone.
- ``ix_runs_owner`` (replay finds a claim's run) and ``ix_runs_connection_flow_started_at`` (a
  pair's runs older than ``[store] keep_runs_days`` pruned as one index range).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("claim_previous", sa.String(64), nullable=True))
    op.drop_index("ix_records_connection_flow_state", "records")
    op.create_index(
        "ix_records_connection_flow_kind_state", "records", ["connection_id", "flow", "kind", "state"]
    )
    op.create_index("ix_runs_owner", "runs", ["owner"])
    op.create_index("ix_runs_connection_flow_started_at", "runs", ["connection_id", "flow", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_connection_flow_started_at", "runs")
    op.drop_index("ix_runs_owner", "runs")
    op.drop_index("ix_records_connection_flow_kind_state", "records")
    op.create_index("ix_records_connection_flow_state", "records", ["connection_id", "flow", "state"])
    with op.batch_alter_table("records") as batch:
        batch.drop_column("claim_previous")
