"""What a person searches a record by besides its key: its amount and its day(s).

Read from the record's stored (redacted) source when the store keeps it, into three indexed
columns of ``records`` (``amount_cents``, ``day_from``, ``day_to``), so the console's `?amount=`
and `?day=` are index lookups at any size instead of a scan of JSON. The amount is kept in
hundredths as an integer: exact on SQLite and PostgreSQL alike (SQLite has no decimal type).

- amount: an order's item total (Amazon's line totals added up), a settlement's payout, a listing
  update's price, a deferral journal's balance; none for the rest.
- days: an order's purchase day; a settlement's period up to its deposit day; a shipment's ship
  day; a deferral's month; otherwise the day the record was first seen (the store sets it then).
  A span is at most ``MAX_SPAN`` days (a settlement period is two weeks to a month), so a day
  search reads one short index range.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_SPAN = timedelta(days=62)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            return None


def _month(period: Any) -> tuple[date | None, date | None]:
    try:
        year, month = (int(p) for p in str(period).split("-")[:2])
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except (ValueError, TypeError):
        return None, None


def facts(source: Any) -> dict[str, Any]:
    """The ``records`` columns a source fills: any of amount_cents, day_from, day_to (absent =
    unknown)."""
    if not isinstance(source, dict):
        return {}
    amount: Decimal | None = None
    first = last = None
    if isinstance(source.get("items"), list) and "purchase_date" in source:  # an order
        lines = [_decimal(i.get("item_price")) for i in source["items"] if isinstance(i, dict)]
        known = [a for a in lines if a is not None]
        amount = sum(known, Decimal(0)) if known else None
        first = last = _day(source.get("purchase_date"))
    elif "settlement_id" in source and "total" in source:  # a settlement (its report's header)
        amount = _decimal(source.get("total"))
        first = _day(source.get("start"))
        last = _day(source.get("deposit")) or _day(source.get("end"))
    elif "ship_date" in source:  # a shipment confirmation
        first = last = _day(source.get("ship_date"))
    elif "sku" in source and "price" in source:  # a listing update
        amount = _decimal(source.get("price"))
    elif "period" in source and "balance" in source:  # a deferral journal
        amount = _decimal(source.get("balance"))
        first, last = _month(source.get("period"))
    out: dict[str, Any] = {}
    if amount is not None:
        out["amount_cents"] = cents(amount)
    if first is not None or last is not None:
        first, last = first or last, last or first
        assert first is not None and last is not None
        if last < first:
            first, last = last, first
        out["day_from"], out["day_to"] = max(first, last - MAX_SPAN), last
    return out


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def parse_amount(text: str) -> Decimal:
    """A searched amount as typed: '1,234.50', '-12.3', '12.34 USD' (the currency is ignored)."""
    cleaned = text.strip().split()[0].replace(",", "") if text.strip() else ""
    amount = _decimal(cleaned)
    if amount is None:
        raise ValueError(f"{text!r} is not an amount; type it like 12.34")
    return amount


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a day; type it like 2026-11-30") from None
