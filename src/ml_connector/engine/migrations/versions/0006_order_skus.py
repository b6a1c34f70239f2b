"""The distinct SKUs of each connection's orders, kept by the database as order records are written.

The items flow matches every SKU ever ordered; reading them from every order record's JSON grew
with the business (4.3 s at 100,000 orders). A trigger on ``records`` (insert, or an update of
``source``, for the kinds ``sales_order`` and ``sales_invoice``) adds each item's SKU, with the
first non-empty ASIN seen, to ``order_skus``: no statement more for the posting protocol, and
the items flow reads one indexed table. Existing records are added by touching their source.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ORDER_KINDS = "('sales_order', 'sales_invoice')"  # flows.items.ORDER_KINDS

SQLITE_TRIGGER = """
CREATE TRIGGER records_order_skus_{name} AFTER {event} ON records
WHEN NEW.kind IN {kinds} AND NEW.source IS NOT NULL
BEGIN
    INSERT INTO order_skus (connection_id, sku, asin)
    SELECT NEW.connection_id, CAST(json_extract(item.value, '$.sku') AS TEXT),
           NULLIF(CAST(json_extract(item.value, '$.asin') AS TEXT), '')
    FROM json_each(CASE json_type(NEW.source, '$.items') WHEN 'array' THEN NEW.source END, '$.items') AS item
    WHERE item.type = 'object' AND COALESCE(CAST(json_extract(item.value, '$.sku') AS TEXT), '') <> ''
    ON CONFLICT (connection_id, sku) DO UPDATE SET asin = excluded.asin
    WHERE order_skus.asin IS NULL AND excluded.asin IS NOT NULL;
END
"""

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION records_order_skus() RETURNS trigger AS $$
BEGIN
    IF NEW.kind IN {ORDER_KINDS} AND NEW.source IS NOT NULL AND json_typeof(NEW.source) = 'object'
       AND json_typeof(NEW.source -> 'items') = 'array' THEN
        INSERT INTO order_skus (connection_id, sku, asin)
        SELECT DISTINCT ON (item ->> 'sku') NEW.connection_id, item ->> 'sku', NULLIF(item ->> 'asin', '')
        FROM json_array_elements(NEW.source -> 'items') AS item
        WHERE json_typeof(item) = 'object' AND COALESCE(item ->> 'sku', '') <> ''
        ORDER BY item ->> 'sku', NULLIF(item ->> 'asin', '') IS NULL
        ON CONFLICT (connection_id, sku) DO UPDATE SET asin = EXCLUDED.asin
        WHERE order_skus.asin IS NULL AND EXCLUDED.asin IS NOT NULL;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""

PG_TRIGGER = (
    "CREATE TRIGGER records_order_skus AFTER INSERT OR UPDATE OF source ON records "
    "FOR EACH ROW EXECUTE FUNCTION records_order_skus()"
)


def upgrade() -> None:
    op.create_table(
        "order_skus",
        sa.Column("connection_id", sa.Integer(), sa.ForeignKey("connections.id"), primary_key=True),
        sa.Column("sku", sa.String(200), primary_key=True),
        sa.Column("asin", sa.String(20), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_TRIGGER.format(name="insert", event="INSERT", kinds=ORDER_KINDS))
        op.execute(SQLITE_TRIGGER.format(name="update", event="UPDATE OF source", kinds=ORDER_KINDS))
    elif dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    op.execute(f"UPDATE records SET source = source WHERE kind IN {ORDER_KINDS} AND source IS NOT NULL")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS records_order_skus_insert")
        op.execute("DROP TRIGGER IF EXISTS records_order_skus_update")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS records_order_skus ON records")
        op.execute("DROP FUNCTION IF EXISTS records_order_skus()")
    op.drop_table("order_skus")
