"""A settlement report read once: its header and line sums, stored beside the raw report.

The settlements flow keeps each raw report on first sight and, with it, a ``settlement_sums``
document: the header and the lines summed per (order, key, marketplace, posted day). Everything
reconcile needs comes from it: the line total and count, the per-order sums, the reserve and
receivable lines under today's mapping, and the journals rebuilt through the same builder (the
builder only ever sums per key, marketplace and day). The sums carry the report's digest: a report
replaced in the store (or one kept before sums existed) is summed again from its bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ml_connector.engine.models import RawDocument
from ml_connector.engine.store import Store
from ml_connector.flows.reconcile.model import NO_ORDER
from ml_connector.model.journal import Journal
from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.errors import QuarantineError
from ml_connector.settlement.journal_builder import BuildResult, LinesReport, Mode, build_journals
from ml_connector.settlement.mapping import AccountMapping
from ml_connector.settlement.reader import open_report
from ml_connector.sources.amazon.resources import Transaction

RAW_KIND = "settlement_report"  # kept by the settlements flow, key = settlement id
SUMS_KIND = "settlement_sums"  # the header and sums of that report, kept with it
VERSION = 1
DEFERRED = "DEFERRED"  # held back by Amazon: in no settlement until released

# (order, transaction type, amount type, amount description, marketplace, posted day)
Key = tuple[str, str, str, str, str, str | None]


@dataclass
class ReportSums:
    """What reconcile needs of a report's lines, summed in one streaming pass (memory grows with
    the orders, not the rows)."""

    total: Decimal = Decimal(0)
    count: int = 0
    by_order: dict[str, Decimal] = field(default_factory=dict)  # "" = lines of no order
    receivables: dict[str, Decimal] = field(default_factory=dict)  # invoice mode: clearing lines
    reserve_released: Decimal = Decimal(0)
    reserve_held: Decimal = Decimal(0)

    @classmethod
    def of(
        cls,
        lines: Iterable[SettlementLine],
        mapping: AccountMapping | None = None,
        default_marketplace: str = "",
    ) -> ReportSums:
        """Sum the lines; with a mapping, also the receivable-clearing and reserve lines."""
        return cls.of_keys(
            ((_key(line), line.amount.amount, 1) for line in lines), mapping, default_marketplace
        )

    @classmethod
    def of_keys(
        cls,
        keyed: Iterable[tuple[Key, Decimal, int]],
        mapping: AccountMapping | None = None,
        default_marketplace: str = "",
    ) -> ReportSums:
        sums = cls()
        by_order = sums.by_order
        for (order, tt, at, ad, market, _day), amount, count in keyed:
            sums.total += amount
            sums.count += count
            by_order[order] = by_order.get(order, Decimal(0)) + amount
            if mapping is None:
                continue
            res = mapping.resolve((tt, at, ad), market or default_marketplace)
            if res is None:
                continue
            if res.category == "reserve":
                if amount >= 0:
                    sums.reserve_released += amount
                else:
                    sums.reserve_held += amount
            elif order and mapping.clears_receivable(tt, res.category):
                sums.receivables[order] = sums.receivables.get(order, Decimal(0)) + amount
        return sums


def _key(line: SettlementLine) -> Key:
    posted = line.posted_date
    day = posted.date() if isinstance(posted, datetime) else posted
    return (
        (line.order_id or NO_ORDER).strip(),
        line.transaction_type.strip(),
        line.amount_type.strip(),
        line.amount_description.strip(),
        (line.marketplace_name or "").strip(),
        day.isoformat() if isinstance(day, date) else None,
    )


@dataclass
class StoredReport:
    """One report's header and keyed sums (from the store, or summed now from the bytes)."""

    settlement: Settlement
    keys: dict[Key, list] = field(default_factory=dict)  # key -> [amount, lines]
    error: str | None = None  # the report cannot be read to the end (its lines are then partial)

    def sums(self, mapping: AccountMapping | None) -> ReportSums:
        return ReportSums.of_keys(
            ((k, v[0], v[1]) for k, v in self.keys.items()), mapping, self.settlement.marketplace or ""
        )

    def lines(self) -> Iterator[SettlementLine]:
        """One line per key: all the journal builder needs (it sums per key, marketplace and day)."""
        cur = self.settlement.currency
        for (order, tt, at, ad, market, day), (amount, _n) in self.keys.items():
            yield SettlementLine(
                transaction_type=tt,
                amount_type=at,
                amount_description=ad,
                amount=Money(amount, cur),
                posted_date=date.fromisoformat(day) if day else None,
                order_id=order or None,
                marketplace_name=market or None,
            )

    def build(self, mapping: AccountMapping, *, mode: Mode, split_by_period: bool) -> BuildResult:
        return build_journals(
            LinesReport(self.settlement, self.lines()),
            mapping,
            mode=mode,
            split_by_period=split_by_period,
        )

    def to_json(self, sha256: str) -> bytes:
        s = self.settlement
        return json.dumps(
            {
                "version": VERSION,
                "report_sha256": sha256,
                "header": {
                    "settlement_id": s.settlement_id,
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "deposit_date": s.deposit_date.isoformat() if s.deposit_date else None,
                    "total": s.total.as_string(),
                    "currency": s.currency,
                    "marketplace": s.marketplace,
                    "report_type": s.report_type,
                },
                "keys": [[*k, str(v[0]), v[1]] for k, v in self.keys.items()],
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> tuple[StoredReport, str]:
        doc = json.loads(data)
        h = doc["header"]
        settlement = Settlement(
            settlement_id=h["settlement_id"],
            start=datetime.fromisoformat(h["start"]),
            end=datetime.fromisoformat(h["end"]),
            deposit_date=datetime.fromisoformat(h["deposit_date"]) if h["deposit_date"] else None,
            total=Money.of(h["total"], h["currency"]),
            marketplace=h["marketplace"],
            report_type=h["report_type"],
        )
        keys = {tuple(row[:6]): [Decimal(row[6]), row[7]] for row in doc["keys"]}
        return cls(settlement, keys), doc["report_sha256"]


def sum_report(data: bytes) -> StoredReport:
    """The one pass over a report's bytes: header and keyed sums. Raises QuarantineError when not
    even the header can be read."""
    with open_report(data) as report:
        stored = StoredReport(report.settlement)
        keys = stored.keys
        try:
            for line in report.lines():
                if line.amount.currency != stored.settlement.currency:
                    continue  # the builder quarantines a foreign currency on its own
                entry = keys.get(k := _key(line))
                if entry is None:
                    keys[k] = [line.amount.amount, 1]
                else:
                    entry[0] += line.amount.amount
                    entry[1] += 1
        except QuarantineError as exc:
            stored.error = str(exc)
    return stored


def keep_report_sums(store: Store, connection: str, settlement_id: str, data: bytes) -> None:
    """Called where the raw report is kept: its sums, kept once beside it (unreadable reports are
    summed by nobody; their quarantine says why)."""
    try:
        stored = sum_report(data)
    except QuarantineError:
        return
    if stored.error is None:
        store.keep_raw_document(
            connection, SUMS_KIND, settlement_id, stored.to_json(hashlib.sha256(data).hexdigest())
        )


def _report_digest(store: Store, connection: str, settlement_id: str) -> str | None:
    """The stored report's digest, read without decompressing it."""
    from sqlalchemy import select

    with store.session() as s:
        conn = store.connection(connection)
        return s.scalars(
            select(RawDocument.sha256).where(
                RawDocument.connection_id == conn.id,
                RawDocument.kind == RAW_KIND,
                RawDocument.key == settlement_id,
            )
        ).one_or_none()


def load_report(store: Store, connection: str, settlement_id: str) -> StoredReport | None:
    """The report's header and sums: the stored ones when they are of the report as stored now,
    else one pass over its bytes (kept for next time when none were kept). None: no report."""
    digest = _report_digest(store, connection, settlement_id)
    if digest is None:
        return None
    kept = store.raw_document(connection, SUMS_KIND, settlement_id)
    if kept is not None:
        stored, of_digest = StoredReport.from_json(kept)
        if of_digest == digest:
            return stored
    data = store.raw_document(connection, RAW_KIND, settlement_id)
    assert data is not None
    stored = sum_report(data)
    if kept is None and stored.error is None:
        store.keep_raw_document(connection, SUMS_KIND, settlement_id, stored.to_json(digest))
    return stored


# -- Finances and journals ---------------------------------------------------------------------------


def transactions_by_order(
    transactions: Iterable[Transaction], deferred: list[Transaction] | None = None
) -> dict[str, Decimal]:
    """Finances 2024 transactions summed per Amazon order id ("" for those of no order). Deferred
    ones are in no settlement yet: they are left out (and collected in ``deferred``)."""
    sums: dict[str, Decimal] = {}
    for tx in transactions:
        if tx.total is None:
            continue
        if tx.status.upper() == DEFERRED:
            if deferred is not None:
                deferred.append(tx)
            continue
        key = (tx.related.get("ORDER_ID") or NO_ORDER).strip()
        sums[key] = sums.get(key, Decimal(0)) + tx.total.amount
    return sums


def deposit_of(journals: Sequence[Journal], currency: str) -> Money:
    """The payout as the journals book it: the bank line(s), debit positive."""
    deposit = Money.zero(currency)
    for journal in journals:
        for line in journal.lines:
            if line.category == "bank":
                deposit = deposit + line.net
    return deposit


def receivable_amounts(
    lines: Iterable[SettlementLine], mapping: AccountMapping, default_marketplace: str = ""
) -> dict[str, Decimal]:
    """Invoice mode: per order, the Order lines that clear the invoice's receivable."""
    return ReportSums.of(lines, mapping, default_marketplace).receivables


def reserve_amounts(
    lines: Iterable[SettlementLine], mapping: AccountMapping, default_marketplace: str = ""
) -> tuple[Decimal, Decimal]:
    """(released, held) by the reserve lines: a positive reserve line releases the previous
    reserve, a negative one holds the current."""
    sums = ReportSums.of(lines, mapping, default_marketplace)
    return sums.reserve_released, sums.reserve_held
