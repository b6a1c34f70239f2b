"""The checks of a tie-out, one function each: inputs in, ``Difference``s out (pure).

``tie_out`` runs them over one settlement; ``check_month_end`` compares a marketplace's ledger
balances with Amazon's at a month end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from ml_connector.flows.reconcile.model import (
    NO_ORDER,
    POSTED,
    AmazonPayout,
    Difference,
    Invoice,
    MonthEnd,
    OrderTie,
    PostedJournal,
    Reserve,
    TieOut,
    _q,
)
from ml_connector.flows.reconcile.sums import ReportSums, deposit_of
from ml_connector.model.journal import Journal
from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine

PAID = "PAID"
NO_PAYOUT = "NO_PAYOUT"


def check_lines(result: TieOut, sums: ReportSums) -> list[Difference]:
    """The report against itself: its lines sum to its total-amount."""
    if _q(result.lines_total) == _q(result.report_total):
        return []
    return [
        Difference(result.settlement_id, "lines", f"the {sums.count} report lines do not sum to total-amount",
                   result.report_total, result.lines_total)
    ]  # fmt: skip


def check_finances(
    result: TieOut, sums: ReportSums, finances: Mapping[str, Decimal] | None
) -> list[Difference]:
    """The report against the Finances transactions of its event group, order by order."""
    sid, cur = result.settlement_id, result.currency
    if finances is None:
        return [
            Difference(
                sid, "finances", "no Finances event group matches this settlement", result.report_total, None
            )
        ]
    diffs = []
    if _q(result.finances_total) != _q(result.report_total):  # type: ignore[arg-type]
        diffs.append(
            Difference(sid, "finances", "Finances transactions total differs from total-amount",
                       result.report_total, result.finances_total)
        )  # fmt: skip
    report_orders = sums.by_order
    for order in sorted(set(report_orders) | set(finances)):
        in_report = Money(report_orders.get(order, Decimal(0)), cur)
        in_finances = Money(finances.get(order, Decimal(0)), cur)
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
    return diffs


def check_journals(
    result: TieOut, journals: Sequence[Journal], build_error: str | None, posted: Mapping[str, PostedJournal]
) -> list[Difference]:
    """The journal(s) rebuilt from the report: deposit line = total-amount, each posted in the ERP
    and, where the adapter reads it back, the ERP's total debit = the journal's."""
    sid = result.settlement_id
    if build_error:
        return [
            Difference(sid, "journal", f"no journal can be built: {build_error}", result.report_total, None)
        ]
    diffs = []
    deposit = result.journal_deposit
    if journals and deposit is not None and _q(deposit) != _q(result.report_total):
        diffs.append(
            Difference(sid, "journal", "the journal's deposit line differs from total-amount",
                       result.report_total, deposit)
        )  # fmt: skip
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
    return diffs


def check_reserve(result: TieOut, reserve: Reserve | None) -> list[Difference]:
    """What this settlement releases is what the previous one of the marketplace held back."""
    if reserve is None or reserve.previous_held is None or _q(reserve.released) == _q(-reserve.previous_held):
        return []
    return [
        Difference(result.settlement_id, "reserve",
                   f"the reserve released differs from the reserve settlement {reserve.previous_settlement} held",
                   -reserve.previous_held, reserve.released)
    ]  # fmt: skip


def check_invoices(
    result: TieOut, receivables: Mapping[str, Decimal], invoices: Mapping[str, Invoice]
) -> list[Difference]:
    """Invoice mode: each order's receivable-clearing lines against its ERP invoice total."""
    sid, diffs = result.settlement_id, []
    for order in sorted(receivables):
        amount = Money(receivables[order], result.currency)
        invoice = invoices.get(order) or Invoice(None, None)
        result.orders.append(OrderTie(order, amount, invoice.total, invoice.erp_id))
        if invoice.erp_id is None:
            diffs.append(Difference(sid, "invoice", "no ERP invoice for this order", amount, None, order))
        elif invoice.total is not None and _q(invoice.total) != _q(amount):
            diffs.append(
                Difference(sid, "invoice", f"ERP invoice {invoice.erp_id} total differs from the settlement",
                           amount, invoice.total, order)
            )  # fmt: skip
    return diffs


def check_summary(result: TieOut, summary: Money | None, asked: bool) -> list[Difference]:
    """Amazon's listSummary net proceeds for the settlement = its total-amount."""
    if not asked:
        return []
    if summary is None:
        return [Difference(result.settlement_id, "summary", "Amazon's listSummary has no summary for this settlement",
                           result.report_total, None)]  # fmt: skip
    if _q(summary) == _q(result.report_total):
        return []
    return [Difference(result.settlement_id, "summary", "Amazon's listSummary net proceeds differ from total-amount",
                       result.report_total, summary)]  # fmt: skip


IN_FLIGHT = ("STARTED", "IN_TRANSIT")
TRANSFER_DAYS = 5  # a bank transfer still in flight after this many days is a difference


def check_payout(
    result: TieOut, payout: AmazonPayout | None, asked: bool, today: date | None = None
) -> list[Difference]:
    """The deposit against Transfers listPayouts: a positive settlement is PAID for its total, a
    negative or zero one has NO_PAYOUT; FAILED or CANCELLED is named, and so is a transfer still
    STARTED / IN_TRANSIT five days after it was created (before that it is noted as in flight)."""
    if not asked:
        return []
    sid, total = result.settlement_id, result.report_total
    expected = total if total.amount > 0 else None
    if payout is None:
        if expected is None:
            return []
        return [
            Difference(
                sid, "payout", "Amazon's listPayouts has no payout for this settlement", expected, None
            )
        ]
    diffs = []
    when = payout.created
    if expected is None:
        if payout.status != NO_PAYOUT or (payout.amount is not None and payout.amount.amount):
            diffs.append(Difference(sid, "payout", f"payout {payout.payout_id} is {payout.status} for a settlement of "
                                    f"{total}: no payout was expected", None, payout.amount, date=when))  # fmt: skip
        return diffs
    young = (
        today
        and payout.created
        and today - date.fromisoformat(payout.created) <= timedelta(days=TRANSFER_DAYS)
    )
    if payout.status in IN_FLIGHT and young:
        result.notes.append(f"payout {payout.payout_id} (trace {payout.trace_id}) is {payout.status}: "
                            "the deposit is not in the bank yet")  # fmt: skip
        return diffs
    if payout.status != PAID:
        why = f" ({payout.failure_reason})" if payout.failure_reason else ""
        diffs.append(Difference(sid, "payout", f"payout {payout.payout_id} (trace {payout.trace_id}) is "
                                f"{payout.status}{why}, not PAID", expected, None, date=when))  # fmt: skip
    elif payout.amount is None or _q(payout.amount) != _q(expected):
        diffs.append(Difference(sid, "payout", f"payout {payout.payout_id} (trace {payout.trace_id}) differs from "
                                "the deposit", expected, payout.amount, date=when))  # fmt: skip
    return diffs


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
    summary: Money | None = None,
    summary_asked: bool = False,
    payout: AmazonPayout | None = None,
    payout_asked: bool = False,
    today: date | None = None,
) -> TieOut:
    """Compare one settlement's figures and list every difference.

    ``report``: the report's lines, or their ``ReportSums``.
    ``finances``: Finances amounts per order id ("" = no order), None when no event group matched.
    ``journals``: rebuilt from the report; ``posted``: the state of each journal reference.
    ``receivables`` / ``invoices``: invoice mode only (order id -> settlement amount / ERP invoice).
    ``reserve``: released / held here and held by the previous settlement of the marketplace.
    ``summary`` / ``payout``: Amazon's listSummary net proceeds and listPayouts transfer (checked
    when ``*_asked``).
    """
    cur = settlement.currency
    sums = report if isinstance(report, ReportSums) else ReportSums.of(report)
    result = TieOut(
        settlement_id=settlement.settlement_id,
        currency=cur,
        marketplace=settlement.marketplace,
        report_total=settlement.total,
        lines_total=Money(sums.total, cur),
        line_count=sums.count,
        finances_total=Money(sum(finances.values(), Decimal(0)), cur) if finances is not None else None,
        finances_group=finances_group,
        journal_deposit=deposit_of(journals, cur) if journals else None,
        reserve=reserve,
        summary=summary,
        payout=payout,
        deposit_date=settlement.deposit_date.date().isoformat() if settlement.deposit_date else None,
    )
    diffs = result.differences
    diffs += check_lines(result, sums)
    diffs += check_finances(result, sums, finances)
    diffs += check_journals(result, journals, build_error, posted or {})
    diffs += check_reserve(result, reserve)
    if receivables is not None:
        diffs += check_invoices(result, receivables, invoices or {})
    diffs += check_summary(result, summary, summary_asked)
    diffs += check_payout(result, payout, payout_asked, today)
    result.differences = [d if d.date else _dated(d, result.deposit_date) for d in diffs]
    return result


def _dated(diff: Difference, when: str | None) -> Difference:
    from dataclasses import replace

    return replace(diff, date=when)


def check_month_end(month: MonthEnd, *, deferred_checked: bool, reserve_checked: bool) -> list[Difference]:
    """The ledger's reserve and deferred balances at a month end against Amazon's listBalances:
    reserve = ACCOUNT_LEVEL_RESERVE, deferred = DEFERRED, both together = RESERVED."""
    subject = f"month end {month.period} {month.marketplace_id}"
    zero = Money.zero(month.currency)
    diffs = []

    def compare(kind: str, ledger: Money | None, what: str) -> None:
        amazon = month.amazon.get(kind)
        if amazon is None:
            diffs.append(Difference("", "balance", f"Amazon's listBalances has no {kind} balance", ledger, None,
                                    date=month.as_of, subject=subject))  # fmt: skip
        elif _q(amazon) != _q(ledger or zero):
            diffs.append(Difference("", "balance", f"the ledger's {what} differs from Amazon's {kind} balance",
                                    ledger or zero, amazon, date=month.as_of, subject=subject))  # fmt: skip

    if deferred_checked:
        compare("DEFERRED", month.ledger_deferred, "Amazon deferred balance")
    if reserve_checked:
        compare("ACCOUNT_LEVEL_RESERVE", month.ledger_reserve, "Amazon reserve")
    if deferred_checked and reserve_checked:
        compare("RESERVED", (month.ledger_deferred or zero) + (month.ledger_reserve or zero),
                "reserve and deferred balances together")  # fmt: skip
    return diffs
