"""What a record is searched by besides its key (engine.search_facts) and migration 0007, which
fills the columns for the records a store kept before it."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from ml_connector.engine.search_facts import facts, parse_amount, parse_day
from ml_connector.engine.store import Store


def test_facts_per_kind_of_source():
    order = {
        "amazon_order_id": "111-1",
        "purchase_date": "2026-11-30T23:10:00+00:00",
        "items": [{"item_price": "10.00"}, {"item_price": "2.34"}],
    }
    assert facts(order) == {
        "amount_cents": 1234,
        "day_from": date(2026, 11, 30),
        "day_to": date(2026, 11, 30),
    }
    settlement = {
        "settlement_id": "1",
        "total": "-53.99",
        "start": "2026-11-02",
        "end": "2026-11-16",
        "deposit": "2026-11-18",
    }
    assert facts(settlement) == {
        "amount_cents": -5399,
        "day_from": date(2026, 11, 2),
        "day_to": date(2026, 11, 18),
    }
    assert facts({"sku": "A", "price": "9.99", "quantity": 1}) == {"amount_cents": 999}
    assert facts({"sku": "A", "price": None, "quantity": 1}) == {}
    assert facts({"ship_date": "2026-11-03T08:00:00+00:00"})["day_from"] == date(2026, 11, 3)
    deferral = facts({"period": "2026-02", "balance": "168.96"})
    assert deferral == {"amount_cents": 16896, "day_from": date(2026, 2, 1), "day_to": date(2026, 2, 28)}
    long = facts({"settlement_id": "2", "total": "1", "start": "2026-01-01", "end": "2026-12-31"})
    assert long["day_to"] == date(2026, 12, 31) and (long["day_to"] - long["day_from"]).days == 62
    assert facts(None) == {} and facts(["x"]) == {} and facts({"key": "AMAZON-US"}) == {}
    assert parse_amount(" 1,234.50 USD") == Decimal("1234.50") and parse_amount("-12.3") == Decimal("-12.3")
    for bad in ("twelve", "", "NaN", "inf"):
        with pytest.raises(ValueError, match="12.34"):
            parse_amount(bad)
    with pytest.raises(ValueError, match="2026-11-30"):
        parse_day("30/11/2026")


def test_migration_0007_fills_the_records_kept_before_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = Store.open(url, migrate_to="0006")
    order = {
        "amazon_order_id": "111-1",
        "purchase_date": "2026-10-19T07:36:07+00:00",
        "items": [{"item_price": "33.95"}],
    }
    with old.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO connections (id, name, erp, settings, created_at, updated_at) VALUES (1, 'shop', 'm3', '{}', '2026-11-01 10:00:00', '2026-11-01 10:00:00')"
            )
        )
        for rid, key, source in ((1, "111-1", json.dumps(order)), (2, "SKU-1", None)):
            c.execute(
                text(
                    "INSERT INTO records (id, connection_id, kind, key, flow, state, attempts, source, claim_token, created_at, updated_at) "
                    "VALUES (:id, 1, 'sales_order', :key, 'orders', 'failed', 1, :source, 0, '2026-11-05 12:00:00', '2026-11-05 12:00:00')"
                ),
                {"id": rid, "key": key, "source": source},
            )
        c.execute(
            text(
                "INSERT INTO records (id, connection_id, kind, key, flow, state, attempts, source, claim_token, created_at, updated_at) "
                "VALUES (3, 1, 'settlement', '24007921359', 'settlements', 'failed', 1, :source, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00')"
            ),
            {"source": json.dumps({"settlement_id": "24007921359", "raw_document": "settlement_report"})},
        )
    old.keep_raw_document("shop", "settlement_report", "24007921359", _report("24007921359"))
    old.close()
    store = Store.open(url)
    try:
        first, second = store.record(1), store.record(2)
        assert (first.amount_cents, first.day_from, first.day_to) == (
            3395,
            date(2026, 10, 19),
            date(2026, 10, 19),
        )
        assert (second.amount_cents, second.day_from) == (None, date(2026, 11, 5))  # the day first seen
        from ml_connector.ops.queries import list_records

        assert [r.key for r in list_records(store, amount="33.95").rows] == ["111-1"]
        # the SKU record first seen that day, and the settlement whose period holds it
        assert {r.key for r in list_records(store, day="2026-11-05").rows} == {"SKU-1", "24007921359"}
        settlement = store.record(3)  # from its kept report's header: payout, period to deposit
        assert (settlement.amount_cents, settlement.day_from, settlement.day_to) == (
            4250,
            date(2026, 11, 2),
            date(2026, 11, 18),
        )
        assert [r.key for r in list_records(store, amount="42.50", day="2026-11-10").rows] == ["24007921359"]
        with store.engine.connect() as c:  # the columns were added in place: 0006's triggers remain
            triggers = set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        assert {"records_order_skus_insert", "records_order_skus_update"} <= triggers
    finally:
        store.close()


def _report(settlement_id: str) -> bytes:
    import io
    from datetime import UTC, datetime

    from ml_connector.model.money import Money
    from ml_connector.model.settlement import Settlement, SettlementLine
    from ml_connector.settlement.writer import write_flat_file_v2

    lines = [
        SettlementLine(
            "Order", "ItemPrice", "Principal", Money(Decimal("50.00"), "USD"), date(2026, 11, 3), "111-1"
        ),
        SettlementLine(
            "Order", "ItemFees", "Commission", Money(Decimal("-7.50"), "USD"), date(2026, 11, 3), "111-1"
        ),
    ]
    header = Settlement(
        settlement_id,
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 18, tzinfo=UTC),
        Money(Decimal("42.50"), "USD"),
        "Amazon.com",
    )
    out = io.BytesIO()
    write_flat_file_v2(header, lines, out)
    return out.getvalue()
