"""Records searchable by amount and day (the console's `?amount=` and `?day=`): three columns read
from each record's stored source (engine.search_facts), indexed, filled for the records already kept
(a settlement kept before its source named its payout: from the header of its kept raw report).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    from ml_connector.engine.search_facts import facts

    # plain ADD COLUMN, never a batch copy of the table: that would drop 0006's triggers on SQLite
    op.add_column("records", sa.Column("amount_cents", sa.BigInteger(), nullable=True))
    op.add_column("records", sa.Column("day_from", sa.Date(), nullable=True))
    op.add_column("records", sa.Column("day_to", sa.Date(), nullable=True))
    op.create_index("ix_records_amount_cents", "records", ["amount_cents"])
    op.create_index("ix_records_day_from", "records", ["day_from"])
    records = sa.table(
        "records",
        sa.column("id", sa.Integer),
        sa.column("connection_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("key", sa.String),
        sa.column("source", sa.JSON),
        sa.column("created_at", sa.DateTime),
        sa.column("amount_cents", sa.BigInteger),
        sa.column("day_from", sa.Date),
        sa.column("day_to", sa.Date),
    )
    bind = op.get_bind()
    update = (
        sa.update(records)
        .where(records.c.id == sa.bindparam("rid"))
        .values(
            amount_cents=sa.bindparam("cents"), day_from=sa.bindparam("first"), day_to=sa.bindparam("last")
        )
    )
    last = 0
    while True:  # in batches by id: a big store is filled without holding every source in memory
        rows = bind.execute(
            sa.select(records.c.id, records.c.source, records.c.created_at)
            .where(records.c.id > last)
            .order_by(records.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        values = []
        for rid, source, created in rows:
            found = facts(source)
            seen = created.date() if isinstance(created, datetime) else None  # the day first seen
            values.append(
                {
                    "rid": rid,
                    "cents": found.get("amount_cents"),
                    "first": found.get("day_from", seen),
                    "last": found.get("day_to", seen),
                }
            )
        bind.execute(update, values)  # one executemany per batch
        last = rows[-1][0]
    _settlements_from_their_reports(bind, records)


def _settlements_from_their_reports(bind: sa.Connection, records: sa.TableClause) -> None:
    """Settlements kept before their source carried the report's header: payout and days read
    from the raw report the store kept (one settlement at a time; there are few)."""
    import zlib

    from ml_connector.engine.search_facts import facts
    from ml_connector.flows.settlements import RAW_KIND, header_source

    raw = sa.table(
        "raw_documents",
        sa.column("connection_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("key", sa.String),
        sa.column("data", sa.LargeBinary),
    )
    wanted = bind.execute(
        sa.select(records.c.id, raw.c.data)
        .join(
            raw,
            sa.and_(
                raw.c.connection_id == records.c.connection_id,
                raw.c.kind == RAW_KIND,
                raw.c.key == records.c.key,
            ),
        )
        .where(records.c.kind == "settlement", records.c.amount_cents.is_(None))
    ).all()
    for rid, data in wanted:
        try:
            found = facts({"settlement_id": "?", **header_source(zlib.decompress(data))})
        except zlib.error:
            continue
        if found:
            bind.execute(sa.update(records).where(records.c.id == rid).values(**found))


def downgrade() -> None:
    op.drop_index("ix_records_day_from", "records")
    op.drop_index("ix_records_amount_cents", "records")
    for column in ("day_to", "day_from", "amount_cents"):  # SQLite 3.35+ drops a column in place
        op.execute(f"ALTER TABLE records DROP COLUMN {column}")
