"""Gathering a tie-out's inputs: the stored report sums, Amazon (Finances event groups and
transactions, listSummary, listPayouts, listBalances), the store's records and the ERP."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from ml_connector.clock import Clock
from ml_connector.config import ConnectionConfig
from ml_connector.engine.store import Store
from ml_connector.errors import MlConnectorError, PermanentError
from ml_connector.flows import deferrals
from ml_connector.flows.context import FlowContext, open_context
from ml_connector.flows.reconcile.checks import check_month_end, tie_out
from ml_connector.flows.reconcile.model import (
    POSTED,
    AmazonPayout,
    Invoice,
    MonthEnd,
    PostedJournal,
    Reserve,
    TieOut,
    _q,
)
from ml_connector.flows.reconcile.sums import RAW_KIND, StoredReport, load_report, transactions_by_order
from ml_connector.model.journal import Journal
from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement
from ml_connector.settlement.balance import amazon_balance
from ml_connector.sources.amazon import balances as amazon_figures
from ml_connector.sources.amazon.regions import MARKETPLACES
from ml_connector.sources.amazon.resources import FinancialEventGroup, Transaction

SETTLE_DELAY = timedelta(days=2)


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


def stored_report(ctx: FlowContext, settlement_id: str) -> StoredReport:
    stored = load_report(ctx.store, ctx.name, settlement_id)
    if stored is None:
        raise MlConnectorError(
            f"settlement {settlement_id} has no stored report on connection {ctx.name}: run the settlements flow first"
        )
    return stored


def posted_journals(ctx: FlowContext, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
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


def erp_invoices(
    ctx: FlowContext, orders: Iterable[str], currency: str, notes: list[str]
) -> dict[str, Invoice]:
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


def amazon_summary(ctx: FlowContext, settlement_id: str, notes: list[str]) -> tuple[Money | None, bool]:
    """listSummary's net proceeds for the settlement; (None, False) when Amazon refuses the call."""
    try:
        summaries = amazon_figures.list_summary(ctx.amazon, settlement_id)
    except PermanentError as exc:
        notes.append(f"listSummary cannot be read ({exc}): the settlement is not checked against it")
        return None, False
    own = [s for s in summaries if s.settlement_id in (settlement_id, None) and s.net_proceeds is not None]
    return (own[0].net_proceeds if own else None), True


def amazon_payouts(
    ctx: FlowContext, headers: Sequence[Settlement], notes: list[str]
) -> dict[str, AmazonPayout] | None:
    """One paged listPayouts over the deposit dates of the settlements: settlement id -> payout."""
    dates = [h.end for h in headers]  # a payout is created when its settlement closes
    if not dates:
        return {}
    before = min(max(h.deposit_date or h.end for h in headers) + timedelta(days=3), ctx.clock.now())
    try:
        payouts = list(
            amazon_figures.list_payouts(
                ctx.amazon,
                created_after=min(dates) - timedelta(days=1),
                created_before=before,
                marketplace_ids=ctx.connection.marketplaces,
            )
        )
    except PermanentError as exc:
        notes.append(f"listPayouts cannot be read ({exc}): deposits are not checked against Amazon's payouts")
        return None
    result = {}
    for p in payouts:
        for sid in p.settlement_ids:
            result[sid] = AmazonPayout(
                p.payout_id,
                p.status,
                p.amount,
                p.trace_id,
                p.created.date().isoformat() if p.created else None,
                p.failure_reason,
            )
    return result


def reconcile_settlement(
    ctx: FlowContext,
    settlement_id: str,
    groups: list[FinancialEventGroup],
    previous: tuple[str, Money] | None = None,
    payouts: Mapping[str, AmazonPayout] | None = None,
    stored: StoredReport | None = None,
) -> TieOut:
    """Gather one settlement's inputs (stored sums, Amazon, ERP) and tie it out."""
    stored = stored or stored_report(ctx, settlement_id)
    settlement = stored.settlement
    notes: list[str] = []
    if stored.error:
        notes.append(f"the report cannot be read to the end: {stored.error}")
    sums = stored.sums(ctx.mapping)
    built = stored.build(
        ctx.mapping, mode=ctx.connection.mode, split_by_period=ctx.connection.split_by_period
    )
    build_error = (
        built.reason
        if built.quarantined
        else (f"the report cannot be read to the end: {stored.error}" if stored.error else None)
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
            held = sum(
                (tx.total.amount for tx in deferred if tx.total), Money.zero(settlement.currency).amount
            )
            notes.append(
                f"{len(deferred)} deferred Finances transaction(s) ({Money(held, settlement.currency)}) "
                "left out: in no settlement until Amazon releases them"
            )
    receivables = invoices = None
    if ctx.connection.mode == "invoice":
        receivables = sums.receivables
        invoices = erp_invoices(ctx, sorted(receivables), settlement.currency, notes)
    reserve = Reserve(
        Money(sums.reserve_released, settlement.currency),
        Money(sums.reserve_held, settlement.currency),
        previous_held=previous[1] if previous else None,
        previous_settlement=previous[0] if previous else None,
    )
    summary, summary_asked = amazon_summary(ctx, settlement_id, notes)
    result = tie_out(
        settlement,
        sums,
        finances=finances,
        reserve=reserve,
        finances_group=group.group_id if group else None,
        journals=built.journals,
        build_error=build_error,
        posted=posted_journals(ctx, built.journals),
        receivables=receivables,
        invoices=invoices,
        summary=summary,
        summary_asked=summary_asked,
        payout=(payouts or {}).get(settlement_id),
        payout_asked=payouts is not None,
        today=ctx.clock.now().date(),
    )
    if not built.quarantined:  # what Amazon holds for or against the seller after this settlement
        result.amazon_balance = amazon_balance(built, ctx.mapping).closing
    result.deferred_released = deferrals.released_in(ctx.store, settlement, sums.by_order, ctx.name)
    result.notes.extend(notes)
    return result


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


def reconcile(ctx: FlowContext, only: str | Sequence[str] | None = None) -> list[TieOut]:
    """Tie out every stored settlement of the connection (or just ``only``). Each report is read
    from its stored sums (or summed once, when it has none)."""
    stored_ids = settlement_ids(ctx)
    ids = [only] if isinstance(only, str) else list(only) if only is not None else stored_ids
    if not ids:
        return []
    reports = {sid: stored_report(ctx, sid) for sid in dict.fromkeys([*stored_ids, *ids])}
    headers = {sid: r.settlement for sid, r in reports.items()}
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
    payout_notes: list[str] = []
    payouts = amazon_payouts(ctx, [headers[sid] for sid in ids], payout_notes)
    ctx.progress.start(f"reconcile {ctx.name}", len(ids))
    results = []
    for sid in ids:
        earlier = previous.get(sid)
        prior = None
        if earlier is not None and reports[earlier].error is None:
            prior = (
                earlier,
                Money(reports[earlier].sums(ctx.mapping).reserve_held, headers[earlier].currency),
            )
        result = reconcile_settlement(ctx, sid, groups, prior, payouts, reports[sid])
        result.notes.extend(payout_notes)
        results.append(result)
        ctx.progress.advance()
    ctx.progress.finish()
    return results


# -- month ends: the ledger's balances against listBalances ---------------------------------------


def _period(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def month_ends(ctx: FlowContext, headers: Iterable[Settlement]) -> list[str]:
    """Months from the first stored settlement's end to the last month end two days past."""
    from ml_connector.flows.deferrals import month_bounds, periods_between

    ends = [h.end for h in headers]
    if not ends:
        return []
    current = _period(ctx.clock.now() - SETTLE_DELAY)
    last = _period(month_bounds(current)[0] - timedelta(days=1))
    first = _period(min(ends))
    return periods_between(first, last) if first <= last else []


def unstored_groups(
    ctx: FlowContext, reports: Mapping[str, StoredReport], boundary: datetime
) -> list[FinancialEventGroup]:
    """Settlements Amazon has closed by ``boundary`` whose report is not stored yet (not produced
    yet, or not fetched by the settlements flow yet): closed event groups newer than the newest stored
    settlement of their currency that match no stored one. Their reserve is in Amazon's balance and
    not yet in the ledger, so a month end they end in cannot be compared until they are stored."""
    newest: dict[str, datetime] = {}
    for report in reports.values():
        s = report.settlement
        newest[s.currency] = max(newest.get(s.currency, s.start), s.start)
    if not newest or min(newest.values()) >= boundary:
        return []
    stored = [r.settlement for r in reports.values()]
    found = []
    for group in ctx.amazon.list_financial_event_groups(min(newest.values()) - timedelta(days=1)):
        cur = group.original_total.currency if group.original_total is not None else None
        if (
            group.processing_status == "Closed"
            and cur in newest
            and group.start is not None
            and group.end is not None
            and group.start > newest[cur] - timedelta(days=1)
            and group.end <= boundary
            and not any(match_group(s, [group]) for s in stored)
        ):
            found.append(group)
    return found


def reconcile_month_ends(ctx: FlowContext, periods: Sequence[str] | None = None) -> list[MonthEnd]:
    """At each month end, per marketplace: the reserve the stored settlements leave held and the
    deferred balance the deferrals journals booked, against Amazon's listBalances (one call per
    month end). The transactions behind the deferred figure come with it."""
    from ml_connector.flows.deferrals import month_bounds, month_end

    reports = {sid: stored_report(ctx, sid) for sid in settlement_ids(ctx)}
    periods = (
        list(periods) if periods is not None else month_ends(ctx, [r.settlement for r in reports.values()])
    )
    ledger_deferred = deferrals.ledger_deferred(ctx.store, ctx.name)
    rows = _deferral_rows(ctx)
    cursor = ctx.store.get_cursor(ctx.name, deferrals.FLOW)
    first_deferral = json.loads(cursor)["first"] if cursor else None
    results = []
    unstored = unstored_groups(ctx, reports, month_bounds(max(periods))[1]) if periods else []
    for period in periods:
        runs_deferrals = first_deferral is not None and period >= first_deferral
        end = month_bounds(period)[1]
        day = month_end(period)
        try:
            amazon = amazon_figures.list_balances(ctx.amazon, ctx.connection.marketplaces, as_of=day)
        except PermanentError as exc:
            results.append(
                MonthEnd("", "", period, day.isoformat(), None, None, notes=[f"listBalances: {exc}"])
            )
            continue
        for marketplace_id in ctx.connection.marketplaces:
            market = MARKETPLACES[marketplace_id]
            cur = market.currency
            held = [
                r for r in reports.values()
                if r.settlement.currency == cur and _same_market(r.settlement.marketplace, market.name)
                and r.settlement.end <= end and r.error is None
            ]  # fmt: skip
            ledger_reserve = None
            if held:
                last = max(held, key=lambda r: r.settlement.end)
                ledger_reserve = -Money(last.sums(ctx.mapping).reserve_held, cur)
            booked = [m for p, m in ledger_deferred.get((marketplace_id, cur), []) if p <= period]
            month = MonthEnd(
                marketplace_id, cur, period, day.isoformat(), ledger_reserve,
                booked[-1] if booked else (Money.zero(cur) if runs_deferrals else None),
                amazon={b.balance_type: b.amount for b in amazon if b.marketplace_id == marketplace_id and b.amount.currency == cur},
                deferral_rows=rows.get((marketplace_id, cur, period), []),
            )  # fmt: skip
            if not runs_deferrals:  # before the deferrals flow's first month, or it never ran
                month.notes.append(
                    "the deferrals flow does not run on this connection: DEFERRED not compared"
                )
            if not held:
                month.notes.append(
                    "no stored settlement ended by this month end: the reserve is not compared"
                )
            waiting = [
                g for g in unstored
                if g.original_total is not None and g.original_total.currency == cur and g.end is not None and g.end <= end
            ]  # fmt: skip
            for group in waiting:
                month.notes.append(
                    f"Amazon closed settlement group {group.group_id} ({_day(group.start)} to {_day(group.end)}) "
                    "but its report is not stored yet: the reserve is not compared until the settlements "
                    "flow has fetched it"
                )
            month.differences = check_month_end(
                month, deferred_checked=runs_deferrals, reserve_checked=bool(held) and not waiting
            )
            results.append(month)
    return results


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "?"


def _same_market(name: str | None, market: str) -> bool:
    return not name or name.lower() == market.lower()


def _deferral_rows(ctx: FlowContext) -> dict[tuple[str, str, str], list[dict]]:
    from ml_connector.flows.deferrals import FLOW, KIND

    result = {}
    for record in ctx.store.records(connection=ctx.name, flow=FLOW):
        source = record.source or {}
        if record.kind == KIND and source.get("period"):
            result[(source["marketplace_id"], source["currency"], source["period"])] = source.get("rows", [])
    return result


def reconcile_deployment(
    store: Store,
    connections: Sequence[ConnectionConfig],
    *,
    settlement: str | None,
    clock: Clock,
    only_named: bool,
) -> tuple[list[tuple[str, TieOut]], list[tuple[str, MonthEnd]]]:
    """The tie-out over a deployment's connections, so the CLI only parses and prints.

    Connections whose flows exclude reconcile are skipped unless one was named (``only_named``);
    with ``settlement``, only the connection that stores it is tied out, and month ends are not.
    Raises ``MlConnectorError`` when the named settlement is stored on no connection."""
    results: list[tuple[str, TieOut]] = []
    months: list[tuple[str, MonthEnd]] = []
    for conn in connections:
        if "reconcile" not in conn.flows and not only_named:
            continue
        if settlement and store.raw_document(conn.name, RAW_KIND, settlement) is None:
            continue  # another connection's settlement
        ctx = open_context(store, conn, clock=clock)
        try:
            results += [(conn.name, r) for r in reconcile(ctx, settlement)]
            if not settlement:
                months += [(conn.name, m) for m in reconcile_month_ends(ctx)]
        finally:
            ctx.close()
    if settlement and not results:
        raise MlConnectorError(
            f"settlement {settlement} is not stored on any connection: run `ml-connector sync settlements`"
        )
    return results, months
