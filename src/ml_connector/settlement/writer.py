"""Writes a GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2 file, the way Amazon does, in a seller locale.

Used by the Amazon sandbox to serve settlement reports, by the property tests (a locale-formatted
file must give the same journal as its plain twin) and by the benchmark (a 1,000,000-row file).
It streams: one row is formatted and written at a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, time
from typing import BinaryIO, TextIO

from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.locales import format_amount, format_date, format_datetime, locale_spec

V2_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"

# Amazon's official attribute list, in order (SP-API.md section 12).
V2_COLUMNS: tuple[str, ...] = (
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
)


def write_flat_file_v2(
    settlement: Settlement,
    lines: Iterable[SettlementLine],
    out: TextIO | BinaryIO,
    *,
    locale: str = "en_US",
    encoding: str = "utf-8",
    newline: str = "\n",
) -> int:
    """Write the header, the summary row and one row per line; return the number of detail rows.

    ``out`` may be a text or a binary stream (bytes are encoded with ``encoding``). Amounts and dates
    are written in the locale's separators and formats (en_US, en_CA, en_GB, de_DE, fr_FR, ja_JP, iso).
    """
    spec = locale_spec(locale)
    currency = settlement.currency
    text = _as_text(out, encoding)
    sid = settlement.settlement_id
    blanks_after_summary = "\t" * (len(V2_COLUMNS) - 6)
    text.write("\t".join(V2_COLUMNS) + newline)
    summary = (
        sid,
        format_datetime(settlement.start, spec),
        format_datetime(settlement.end, spec),
        format_datetime(settlement.deposit_date, spec) if settlement.deposit_date else "",
        format_amount(settlement.total.amount, currency, spec),
        currency,
    )
    text.write("\t".join(summary) + blanks_after_summary + newline)
    count = 0
    date_cache: dict[object, tuple[str, str]] = {}
    for line in lines:
        if line.amount.currency != currency:
            raise ValueError(f"line {line.key} is in {line.amount.currency}, the settlement is in {currency}")
        posted = line.posted_date
        if posted is None:
            posted_date = posted_time = ""
        else:
            cached = date_cache.get(posted)
            if cached is None:
                at = posted if isinstance(posted, datetime) else datetime.combine(posted, time())
                cached = (format_date(posted, spec), format_datetime(at, spec))
                if len(date_cache) < 4096:
                    date_cache[posted] = cached
            posted_date, posted_time = cached
        row = (
            sid,
            "",
            "",
            "",
            "",
            "",
            line.transaction_type,
            line.order_id or "",
            line.merchant_order_id or "",
            line.adjustment_id or "",
            line.shipment_id or "",
            line.marketplace_name or "",
            line.amount_type,
            line.amount_description,
            format_amount(line.amount.amount, currency, spec),
            line.fulfillment_id or "",
            posted_date,
            posted_time,
            line.order_item_code or "",
            "",
            "",
            line.sku or "",
            "" if line.quantity is None else str(line.quantity),
        )
        text.write("\t".join(row) + newline)
        count += 1
    text.flush()
    if isinstance(text, io.TextIOWrapper) and text is not out:
        text.detach()  # leave the caller's binary stream open
    return count


def _as_text(out: TextIO | BinaryIO, encoding: str) -> TextIO:
    if isinstance(out, io.TextIOBase):
        return out
    if hasattr(out, "encoding") and not isinstance(out, io.BufferedIOBase | io.RawIOBase):
        return out  # type: ignore[return-value]  # a text-like stream that is not an io class
    return io.TextIOWrapper(out, encoding=encoding, newline="", write_through=False)
