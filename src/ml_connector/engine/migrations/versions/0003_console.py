"""The console: users, web sessions, paused connections, operator actions; indexes for its pages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ml_connector.engine.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "connection_pauses",
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"), primary_key=True),
        sa.Column("paused_at", UTCDateTime, nullable=False),
        sa.Column("paused_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_table(
        "ops_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"), nullable=True),
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_events_at", "ops_events", ["at"])
    # The console's pages: per-flow lists newest first, problems by state, search by key, runs.
    op.create_index("ix_records_flow_state_id", "records", ["flow", "state", "id"])
    op.create_index("ix_records_connection_flow_state", "records", ["connection_id", "flow", "state"])
    op.create_index("ix_records_key", "records", ["key"])
    op.create_index("ix_runs_connection_flow_id", "runs", ["connection_id", "flow", "id"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])  # a run's counts: events in its window


def downgrade() -> None:
    op.drop_index("ix_audit_events_at", "audit_events")
    op.drop_index("ix_runs_connection_flow_id", "runs")
    op.drop_index("ix_records_key", "records")
    op.drop_index("ix_records_connection_flow_state", "records")
    op.drop_index("ix_records_flow_state_id", "records")
    for table in ("ops_events", "connection_pauses", "web_sessions", "users"):
        op.drop_table(table)
