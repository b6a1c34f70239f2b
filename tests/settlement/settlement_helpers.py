"""Shared helpers for the settlement tests: the real sample files and small synthetic settlements."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.writer import write_flat_file_v2

HERE = Path(__file__).parent
LOCAL_SAMPLES = HERE / "data"
SHARED_SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "reference" / "amazon" / "samples"


def sample_files() -> list[Path]:
    """The local copies, plus the shared originals when ../shared sits beside the repo."""
    files = sorted(LOCAL_SAMPLES.glob("settlement_*.txt"))
    if SHARED_SAMPLES.is_dir():
        files += sorted(SHARED_SAMPLES.resolve().glob("settlement_*.txt"))
    return files


def sample_ids() -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in sample_files()]


SMALL_SAMPLE = LOCAL_SAMPLES / "settlement_v1_23874397121.txt"


def line(
    tt: str, at: str, ad: str, amount: str, currency: str = "USD", day: date | None = date(2026, 3, 14),
    market: str | None = "Amazon.com", **extra: object,
) -> SettlementLine:  # fmt: skip
    return SettlementLine(tt, at, ad, Money.of(amount, currency), day, marketplace_name=market, **extra)  # type: ignore[arg-type]


def settlement_for(
    lines: Iterable[SettlementLine], currency: str = "USD", sid: str = "555",
    start: datetime = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC), end: datetime = datetime(2026, 3, 15, 8, 0, 0, tzinfo=UTC),
    deposit: datetime | None = datetime(2026, 3, 17, 8, 0, 0, tzinfo=UTC), total: str | None = None,
) -> Settlement:  # fmt: skip
    amount = Decimal(total) if total is not None else sum((ln.amount.amount for ln in lines), Decimal(0))
    return Settlement(sid, start, end, deposit, Money(amount, currency))


def v2_bytes(
    settlement: Settlement, lines: Iterable[SettlementLine], locale: str = "en_US", **kw: object
) -> bytes:
    out = io.BytesIO()
    write_flat_file_v2(settlement, lines, out, locale=locale, **kw)  # type: ignore[arg-type]
    return out.getvalue()


ORDER = [
    line("Order", "ItemPrice", "Principal", "100.00", order_id="111-1", sku="A", quantity=1),
    line("Order", "ItemPrice", "Shipping", "5.99", order_id="111-1"),
    line("Order", "ItemPrice", "Tax", "8.00", order_id="111-1"),
    line("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", "-8.00", order_id="111-1"),
    line("Order", "ItemFees", "Commission", "-15.00", order_id="111-1"),
    line("Order", "ItemFees", "FBAPerUnitFulfillmentFee", "-4.25", order_id="111-1"),
    line("Order", "Promotion", "Principal", "-10.00", order_id="111-1"),
    line("Refund", "ItemPrice", "Principal", "-20.00", order_id="111-2", adjustment_id="amzn1:crow:x"),
    line("Refund", "ItemFees", "Commission", "3.00", order_id="111-2"),
    line("other-transaction", "other-transaction", "Subscription Fee", "-39.99", market=None),
    line("other-transaction", "other-transaction", "Previous Reserve Amount Balance", "50.00", market=None),
    line("other-transaction", "other-transaction", "Current Reserve Amount", "-60.00", market=None),
]
