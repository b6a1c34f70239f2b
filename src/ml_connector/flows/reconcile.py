"""The reconcile flow: the controller's tie-out of each settlement, naming every difference.

Per settlement four figures must agree: the report's total-amount, the sum of its lines, the
Finances transactions of its event group (Finances 2024-06-19, by FINANCIAL_EVENT_GROUP_ID) and the
deposit (bank) line of its journal(s), which must be posted in the ERP. Finances are compared order
by order, so a difference names the order. In invoice mode each order's receivable-clearing lines
(Principal, shipping, tax, promotions of Order lines) are compared with its ERP invoice total.

``tie_out`` is pure (inputs in, ``TieOut`` out) so the arithmetic is unit-tested without HTTP;
``run`` gathers the inputs from the store, Amazon and the ERP. Reconcile only reads: it never
writes to Amazon or the ERP, and records nothing but audit notes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ml_connector.errors import MlConnectorError
from ml_connector.flows.context import FlowContext, FlowSummary
from ml_connector.model.journal import Journal
from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.errors import QuarantineError
from ml_connector.settlement.journal_builder import build_journals
from ml_connector.settlement.mapping import AccountMapping
from ml_connector.settlement.reader import open_report
from ml_connector.sources.amazon.resources import FinancialEventGroup, Transaction

log = logging.getLogger(__name__)

FLOW = "reconcile"
RAW_KIND = "settlement_report"  # kept by the settlements flow, key = settlement id
POSTED = ("posted", "found_existing")
NO_ORDER = ""  # lines that belong to no order (subscription, ads, reserve)


@dataclass(frozen=True)
class Difference:
    """One thing that does not tie: what, where (settlement, order), expected vs found."""

    settlement_id: str
    check: str  # lines | finances | journal | erp_journal | reserve | invoice
    message: str
    expected: Money | None = None
    found: Money | None = None
    order_id: str | None = None

    @property
    def amount(self) -> Money | None:
        """found - expected; the whole expected amount when nothing was found."""
        if self.expected is None and self.found is None:
            return None
        currency = (self.expected or self.found).currency  # type: ignore[union-attr]
        return (self.found or Money.zero(currency)) - (self.expected or Money.zero(currency))

    def line(self) -> str:
        where = f"settlement {self.settlement_id}" + (f" order {self.order_id}" if self.order_id else "")
        amount = f" difference {self.amount}" if self.amount is not None else ""
        return f"{where}: {self.message}{amount}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "settlement_id": self.settlement_id,
            "order_id": self.order_id,
            "check": self.check,
            "message": self.message,
            "expected": _s(self.expected),
            "found": _s(self.found),
            "difference": _s(self.amount),
            "currency": (self.expected or self.found).currency if (self.expected or self.found) else None,
        }


@dataclass(frozen=True)
class PostedJournal:
    """What the store (and, where readable, the ERP) says about one journal reference."""

    state: str | None  # the record's state; None when the journal was never attempted
    erp_id: str | None = None
    erp_total: Money | None = None  # total debit the ERP holds, when the adapter can read it
    error: str | None = None
    checked: bool = False  # the ERP was asked: erp_total None then means it has no such journal


@dataclass(frozen=True)
class Invoice:
    """An order's ERP invoice: its id and total (None when the ERP has none / it cannot be read)."""

    erp_id: str | None
    total: Money | None


@dataclass(frozen=True)
class OrderTie:
    order_id: str
    settlement: Money  # the receivable-clearing Order lines of this order in the settlement
    invoice: Money | None
    erp_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "settlement": _s(self.settlement),
            "invoice": _s(self.invoice),
            "erp_id": self.erp_id,
        }


@dataclass(frozen=True)
class Reserve:
    """The reserve this settlement released (+) and held back (-), and what the previous
    settlement of the same marketplace held (None when no earlier settlement is stored)."""

    released: Money
    held: Money
    previous_held: Money | None = None
    previous_settlement: str | None = None

    @property
    def balance(self) -> Money:
        """Amazon's reserve after this settlement, as the reserve account should show it."""
        return -self.held

    def as_dict(self) -> dict[str, Any]:
        return {
            "released": _s(self.released),
            "held": _s(self.held),
            "balance": _s(self.balance),
            "previous_held": _s(self.previous_held),
            "previous_settlement": self.previous_settlement,
        }


@dataclass
class TieOut:
    """One settlement's tie-out: the figures side by side and every difference between them."""

    settlement_id: str
    currency: str
    marketplace: str | None
    report_total: Money
    lines_total: Money
    line_count: int
    finances_total: Money | None
    finances_group: str | None
    journal_deposit: Money | None
    reserve: Reserve | None = None
    journals: dict[str, PostedJournal] = field(default_factory=dict)
    orders: list[OrderTie] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "settlement_id": self.settlement_id,
            "currency": self.currency,
            "marketplace": self.marketplace,
            "report_total": _s(self.report_total),
            "lines_total": _s(self.lines_total),
            "line_count": self.line_count,
            "finances_total": _s(self.finances_total),
            "finances_group": self.finances_group,
            "journal_deposit": _s(self.journal_deposit),
            "reserve": self.reserve.as_dict() if self.reserve else None,
            "journals": {
                ref: {
                    "state": j.state,
                    "erp_id": j.erp_id,
                    "erp_total": _s(j.erp_total),
                    "erp_checked": j.checked,
                    "error": j.error,
                }
                for ref, j in self.journals.items()
            },
            "orders": [o.as_dict() for o in self.orders],
            "differences": [d.as_dict() for d in self.differences],
            "notes": list(self.notes),
            "ties": self.ties,
        }


def _s(money: Money | None) -> str | None:
    return None if money is None else money.as_string()


def _q(money: Money) -> Money:
    return money.quantized()


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
        sums = cls()
        by_order = sums.by_order
        for line in lines:
            amount = line.amount.amount
            sums.total += amount
            sums.count += 1
            order = (line.order_id or NO_ORDER).strip()
            by_order[order] = by_order.get(order, Decimal(0)) + amount
            if mapping is None:
                continue
            market = (line.marketplace_name or "").strip() or default_marketplace
            tt = line.transaction_type.strip()
            res = mapping.resolve((tt, line.amount_type.strip(), line.amount_description.strip()), market)
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


DEFERRED = "DEFERRED"  # held back by Amazon: in no settlement until released


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


def tie_out(
    settlement: Settlement,
    report: ReportSums | Iterable[SettlementLine],
    *,
    finances: Mapping[str, Decimal] | None,
    finances_group: str | None = None,
    journals: Sequence[Journal] = (),
    build_error: str | None = None,
    posted: Mapping[str, PostedJournal] | None = None,
    receivables: Mapping[str, Decimal] | None = None,
    invoices: Mapping[str, Invoice] | None = None,
    reserve: Reserve | None = None,
) -> TieOut:
    """Compare one settlement's figures and list every difference.

    ``report``: the report's lines, or their ``ReportSums``.
    ``finances``: Finances amounts per order id ("" = no order), None when no event group matched.
    ``journals``: rebuilt from the report; ``posted``: the state of each journal reference.
    ``receivables`` / ``invoices``: invoice mode only (order id -> settlement amount / ERP invoice).
    ``reserve``: released / held here and held by the previous settlement of the marketplace.
    """
    sid = settlement.settlement_id
    cur = settlement.currency
    money = lambda amount: Money(amount, cur)  # noqa: E731
    report_total = settlement.total
    sums = report if isinstance(report, ReportSums) else ReportSums.of(report)
    lines_total = money(sums.total)
    result = TieOut(
        settlement_id=sid,
        currency=cur,
        marketplace=settlement.marketplace,
        report_total=report_total,
        lines_total=lines_total,
        line_count=sums.count,
        finances_total=money(sum(finances.values(), Decimal(0))) if finances is not None else None,
        finances_group=finances_group,
        journal_deposit=deposit_of(journals, cur) if journals else None,
        reserve=reserve,
    )
    diffs = result.differences

    # 1. The report against itself.
    if _q(lines_total) != _q(report_total):
        diffs.append(
            Difference(sid, "lines", f"the {sums.count} report lines do not sum to total-amount",
                       report_total, lines_total)
        )  # fmt: skip

    # 2. The report against Finances, order by order.
    if finances is None:
        diffs.append(
            Difference(sid, "finances", "no Finances event group matches this settlement", report_total, None)
        )
    else:
        if _q(result.finances_total) != _q(report_total):  # type: ignore[arg-type]
            diffs.append(
                Difference(sid, "finances", "Finances transactions total differs from total-amount",
                           report_total, result.finances_total)
            )  # fmt: skip
        report_orders = sums.by_order
        for order in sorted(set(report_orders) | set(finances)):
            in_report = money(report_orders.get(order, Decimal(0)))
            in_finances = money(finances.get(order, Decimal(0)))
            if _q(in_report) == _q(in_finances):
                continue
            if order == NO_ORDER:
                what = "lines of no order (fees, ads, reserve) differ between the report and Finances"
            elif order not in finances:
                what = "in the report but not in the Finances transactions"
            elif order not in report_orders:
                what = "in the Finances transactions but not in the report"
            else:
                what = "report lines differ from the Finances transactions"
            diffs.append(Difference(sid, "finances", what, in_report, in_finances, order_id=order or None))

    # 3. The journal(s): deposit line and ERP status.
    if build_error:
        diffs.append(
            Difference(sid, "journal", f"no journal can be built: {build_error}", report_total, None)
        )
    elif journals:
        deposit = result.journal_deposit
        if deposit is not None and _q(deposit) != _q(report_total):
            diffs.append(
                Difference(sid, "journal", "the journal's deposit line differs from total-amount",
                           report_total, deposit)
            )  # fmt: skip
        posted = posted or {}
        for journal in journals:
            state = posted.get(journal.reference) or PostedJournal(None)
            result.journals[journal.reference] = state
            if state.state not in POSTED:
                why = f"journal {journal.reference} is not posted in the ERP" + (
                    f" ({state.state}: {state.error})"
                    if state.error
                    else f" ({state.state or 'never attempted'})"
                )
                diffs.append(Difference(sid, "erp_journal", why, journal.total_debit, None))
            elif state.checked and state.erp_total is None:
                diffs.append(
                    Difference(sid, "erp_journal",
                               f"journal {journal.reference} is recorded as posted ({state.erp_id}) but the ERP has no such journal",
                               journal.total_debit, None)
                )  # fmt: skip
            elif state.erp_total is not None and _q(state.erp_total) != _q(journal.total_debit):
                diffs.append(
                    Difference(sid, "erp_journal",
                               f"journal {journal.reference} ({state.erp_id}) in the ERP differs from the report's",
                               journal.total_debit, state.erp_total)
                )  # fmt: skip

    # 4. The reserve: what this settlement releases is what the previous one held back.
    if (
        reserve is not None
        and reserve.previous_held is not None
        and _q(reserve.released) != _q(-reserve.previous_held)
    ):
        diffs.append(
            Difference(sid, "reserve",
                       f"the reserve released differs from the reserve settlement {reserve.previous_settlement} held",
                       -reserve.previous_held, reserve.released)
        )  # fmt: skip

    # 5. Invoice mode: each order's settlement amount against its ERP invoice.
    if receivables is not None:
        invoices = invoices or {}
        for order in sorted(receivables):
            amount = money(receivables[order])
            invoice = invoices.get(order) or Invoice(None, None)
            result.orders.append(OrderTie(order, amount, invoice.total, invoice.erp_id))
            if invoice.erp_id is None:
                diffs.append(Difference(sid, "invoice", "no ERP invoice for this order", amount, None, order))
            elif invoice.total is not None and _q(invoice.total) != _q(amount):
                diffs.append(
                    Difference(sid, "invoice", f"ERP invoice {invoice.erp_id} total differs from the settlement",
                               amount, invoice.total, order)
                )  # fmt: skip
    return result


# -- gathering the inputs ------------------------------------------------------------------------


def match_group(settlement: Settlement, groups: Iterable[FinancialEventGroup]) -> FinancialEventGroup | None:
    """The event group of a settlement: same currency and start (within a day; reports may carry
    dates only), preferring the same total, then the same end."""
    candidates = [
        g
        for g in groups
        if g.start is not None
        and g.original_total is not None
        and g.original_total.currency == settlement.currency
        and abs(g.start - settlement.start) < timedelta(days=1)
    ]

    def rank(g: FinancialEventGroup) -> tuple:
        same_total = g.original_total is not None and _q(g.original_total) == _q(settlement.total)
        end_gap = abs(g.end - settlement.end) if g.end else timedelta(days=999)
        return (not same_total, end_gap, abs(g.start - settlement.start))  # type: ignore[operator]

    return min(candidates, key=rank, default=None)


def settlement_ids(ctx: FlowContext) -> list[str]:
    return ctx.store.raw_document_keys(ctx.name, RAW_KIND)


def _posted_journals(ctx: FlowContext, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
    reader = getattr(ctx.target, "document_total", None)
    result = {}
    for journal in journals:
        record = ctx.store.find_record(ctx.name, "journal", journal.reference)
        if record is None:
            result[journal.reference] = PostedJournal(None)
            continue
        erp_total, checked = None, False
        if reader is not None and record.state in POSTED:
            try:
                erp_total = reader("journal", journal.reference, journal.currency)
                checked = True
            except NotImplementedError:
                reader = None  # this adapter cannot read journals back: rely on the recorded ids
        result[journal.reference] = PostedJournal(
            record.state, record.erp_id, erp_total, record.error, checked
        )
    return result


def _invoices(ctx: FlowContext, orders: Iterable[str], currency: str, notes: list[str]) -> dict[str, Invoice]:
    reader = getattr(ctx.target, "document_total", None)
    readable = reader is not None
    result = {}
    for order in orders:
        record = ctx.store.find_record(ctx.name, "sales_invoice", order)
        erp_id = record.erp_id if record is not None and record.state in POSTED else None
        total = None
        if readable:
            try:
                total = reader("sales_invoice", order, currency)  # type: ignore[misc]
            except NotImplementedError:
                readable = False
                notes.append(f"{ctx.target.name} invoices cannot be read back: checked their posting only")
            else:
                if total is None:
                    erp_id = None  # the store says posted, but the ERP has no such invoice
                elif erp_id is None:
                    erp_id = "(in the ERP, not in the store)"
        result[order] = Invoice(erp_id, total)
    return result


def reconcile_settlement(
    ctx: FlowContext,
    settlement_id: str,
    groups: list[FinancialEventGroup],
    previous: tuple[str, Money] | None = None,
) -> TieOut:
    """Gather one settlement's inputs (store, Amazon Finances, ERP) and tie it out."""
    data = ctx.store.raw_document(ctx.name, RAW_KIND, settlement_id)
    if data is None:
        raise MlConnectorError(
            f"settlement {settlement_id} has no stored report on connection {ctx.name}: run the settlements flow first"
        )
    notes: list[str] = []
    with open_report(data) as report:
        settlement = report.settlement
        try:
            sums = ReportSums.of(report.lines(), ctx.mapping, settlement.marketplace or "")
        except QuarantineError as exc:
            sums = ReportSums()
            notes.append(f"the report cannot be read to the end: {exc}")
    with open_report(data) as again:
        built = build_journals(
            again,
            ctx.mapping,
            mode=ctx.connection.mode,
            split_by_period=ctx.connection.split_by_period,
        )
    group = match_group(settlement, groups)
    finances = None
    if group is not None:
        deferred: list[Transaction] = []
        finances = transactions_by_order(
            ctx.amazon.list_transactions(related_identifier=("FINANCIAL_EVENT_GROUP_ID", group.group_id)),
            deferred,
        )
        if deferred:
            held = sum((tx.total.amount for tx in deferred if tx.total), Decimal(0))
            notes.append(
                f"{len(deferred)} deferred Finances transaction(s) ({Money(held, settlement.currency)}) "
                "left out: in no settlement until Amazon releases them"
            )
    receivables = invoices = None
    if ctx.connection.mode == "invoice":
        receivables = sums.receivables
        invoices = _invoices(ctx, sorted(receivables), settlement.currency, notes)
    reserve = Reserve(
        Money(sums.reserve_released, settlement.currency),
        Money(sums.reserve_held, settlement.currency),
        previous_held=previous[1] if previous else None,
        previous_settlement=previous[0] if previous else None,
    )
    result = tie_out(
        settlement,
        sums,
        finances=finances,
        reserve=reserve,
        finances_group=group.group_id if group else None,
        journals=built.journals,
        build_error=None if not built.quarantined else built.reason,
        posted=_posted_journals(ctx, built.journals),
        receivables=receivables,
        invoices=invoices,
    )
    result.notes.extend(notes)
    return result


def _header(ctx: FlowContext, settlement_id: str) -> Settlement:
    data = ctx.store.raw_document(ctx.name, RAW_KIND, settlement_id)
    if data is None:
        raise MlConnectorError(
            f"settlement {settlement_id} has no stored report on connection {ctx.name}: "
            "run the settlements flow first"
        )
    with open_report(data) as report:
        return report.settlement


def previous_settlements(headers: Mapping[str, Settlement]) -> dict[str, str]:
    """Settlement id -> the stored settlement just before it in the same currency and marketplace
    (ending at most a day after it starts), whose held reserve it should release. A report with
    no order lines names no marketplace; it then matches by currency (an exact match breaks ties)."""
    result = {}
    for sid, own in headers.items():
        earlier = [
            (other.end, other.marketplace == own.marketplace, oid)
            for oid, other in headers.items()
            if oid != sid
            and other.currency == own.currency
            and (other.marketplace == own.marketplace or not other.marketplace or not own.marketplace)
            and other.end <= own.start + timedelta(days=1)
            and other.start < own.start
        ]
        if earlier:
            result[sid] = max(earlier)[2]
    return result


def _held(ctx: FlowContext, settlement_id: str) -> Money:
    data = ctx.store.raw_document(ctx.name, RAW_KIND, settlement_id)
    assert data is not None  # a stored key
    with open_report(data) as report:
        _released, held = reserve_amounts(report.lines(), ctx.mapping, report.settlement.marketplace or "")
        return Money(held, report.settlement.currency)


def reconcile(ctx: FlowContext, only: str | Sequence[str] | None = None) -> list[TieOut]:
    """Tie out every stored settlement of the connection (or just ``only``)."""
    stored = settlement_ids(ctx)
    ids = [only] if isinstance(only, str) else list(only) if only is not None else stored
    if not ids:
        return []
    headers = {sid: _header(ctx, sid) for sid in dict.fromkeys([*stored, *ids])}
    previous = previous_settlements(headers)
    # One paged read of the event groups covers every settlement of the run.
    starts = [headers[sid].start for sid in ids]
    # Amazon wants StartedBefore more than two minutes in the past: leave it out near now.
    before: datetime | None = max(starts) + timedelta(days=1)
    if before is not None and before > ctx.clock.now() - timedelta(minutes=5):
        before = None
    groups = list(
        ctx.amazon.list_financial_event_groups(min(starts) - timedelta(days=1), started_before=before)
    )
    ctx.progress.start(f"reconcile {ctx.name}", len(ids))
    results = []
    for sid in ids:
        before = previous.get(sid)
        prior = None
        if before is not None:
            try:
                prior = (before, _held(ctx, before))
            except QuarantineError:
                prior = None  # an unreadable earlier report is its own difference
        results.append(reconcile_settlement(ctx, sid, groups, prior))
        ctx.progress.advance()
    ctx.progress.finish()
    return results


def _tied_before(ctx: FlowContext, settlement_id: str) -> bool:
    record = ctx.store.find_record(ctx.name, "settlement", settlement_id)
    if record is None:
        return False
    events = [e for e in ctx.store.audit_trail(record.id) if e.event == "reconciled"]
    return bool(events) and bool((events[-1].payload or {}).get("ties"))


def run(ctx: FlowContext) -> FlowSummary:
    """The scheduled tie-out: every stored settlement that has not tied yet (a settlement that tied
    once is not read again; `ml-connector reconcile` re-checks any of them on demand)."""
    summary = FlowSummary(FLOW, ctx.name)
    todo = [sid for sid in settlement_ids(ctx) if not _tied_before(ctx, sid)]
    summary.count("already_tied", len(settlement_ids(ctx)) - len(todo))
    results = reconcile(ctx, todo) if todo else []
    for result in results:
        summary.count("tied" if result.ties else "with_differences")
        summary.notes.extend(diff.line() for diff in result.differences)
        # On the settlement's own trail, never creating a record (reconcile posts nothing).
        record = ctx.store.find_record(ctx.name, "settlement", result.settlement_id)
        if record is not None:
            ctx.store.add_event(
                record.id,
                "reconciled",
                message="ties" if result.ties else f"{len(result.differences)} difference(s)",
                payload={"ties": result.ties, "differences": [d.as_dict() for d in result.differences]},
                actor=FLOW,
            )
    summary.facts["reconcile"] = [r.as_dict() for r in results]
    summary.facts["differences"] = sum(len(r.differences) for r in results)
    return summary
