"""The deferrals flow: revenue Amazon holds back is booked in the month it was earned.

Amazon defers some sales (DD7: until delivery date + 7 days; B2B: invoiced business orders until
paid) and pays them in the settlement of their release, often the next month. The settlement
journals stay exactly what was paid; at each month end, per marketplace and currency, one journal
accrues the transactions still deferred at that date (their lines mapped as the settlement will
map them, against the "Amazon deferred balance" account) and reverses those accrued earlier that
were released during the month. The deferred account then equals Amazon's DEFERRED balance at
every month end (reconcile checks it with ``listBalances``).

Each transaction is accrued once, in the month it was earned (or the first month the connection
books, for what was already deferred then), if it is still deferred at that month's end, and
reversed once, in the month of its release. A month is booked once its end is two days past
(Finances may miss the last 48 hours) under the key ``DEFER-<country>-<YYYY-MM>`` through the
posting protocol, so it is written exactly once whatever crashes. The transactions behind each
figure are kept on the record (``rows``: accrued, reversed, held) for ``reconcile --json``.
"""

from __future__ import annotations

import calendar
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError, PermanentError
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.model import Money, Settlement
from ml_connector.model.documents import JournalDocument
from ml_connector.model.journal import Journal, JournalLine
from ml_connector.settlement.journal_builder import LinesReport, build_journals
from ml_connector.settlement.mapping import AccountMapping
from ml_connector.sources.amazon.balances import DeferredTransaction, list_deferred_transactions
from ml_connector.sources.amazon.regions import MARKETPLACES

log = logging.getLogger(__name__)

FLOW = "deferrals"
KIND: Final = "deferral"  # a journal record of its own kind (its replay fetches the month again)
ACCOUNT = "deferred"  # [accounts] deferred in the mapping: the Amazon deferred balance
SETTLE_DELAY = timedelta(days=2)  # Finances may miss the last 48 hours
LOOKBACK = timedelta(days=62)  # the longest deferral (B2B terms) earned before the first month
PAYOUT_CATEGORIES = frozenset({"bank"})  # the builder's payout line, which becomes the deferred line


def period_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a "YYYY-MM" period, in UTC."""
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_end(period: str) -> date:
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, calendar.monthrange(year, month)[1])


def periods_between(first: str, last: str) -> list[str]:
    result, current = [], first
    while current <= last:
        result.append(current)
        current = period_of(month_bounds(current)[1])
    return result


def release_of(tx: DeferredTransaction) -> datetime | None:
    """When Amazon released it (its maturity date, once the status says released); None while held."""
    return (tx.maturity or tx.earned) if tx.released else None


def accrual_period(tx: DeferredTransaction, first: str) -> str | None:
    """The month whose end accrues ``tx``: the month it was earned (not before the first month
    booked), if it is still deferred at that month's end; None when it never crosses a month end."""
    period = max(period_of(tx.earned), first)
    release = release_of(tx)
    if release is not None and release < month_bounds(period)[1]:
        return None
    return period


@dataclass
class MonthDeferrals:
    """What one month-end journal of one marketplace books, and the transactions behind it."""

    marketplace_id: str
    currency: str
    period: str
    accrued: list[DeferredTransaction] = field(default_factory=list)
    reversed: list[DeferredTransaction] = field(default_factory=list)
    held: list[DeferredTransaction] = field(default_factory=list)  # deferred at the month end

    @property
    def key(self) -> str:
        market = MARKETPLACES.get(self.marketplace_id)
        code = market.country_code if market else self.marketplace_id
        suffix = "" if market is None or market.currency == self.currency else f"-{self.currency}"
        return f"DEFER-{code}-{self.period}{suffix}"

    def _sum(self, txs: Iterable[DeferredTransaction]) -> Money:
        return Money(sum((tx.total.amount for tx in txs), Decimal(0)), self.currency)

    @property
    def accrued_total(self) -> Money:
        return self._sum(self.accrued)

    @property
    def reversed_total(self) -> Money:
        return self._sum(self.reversed)

    @property
    def balance(self) -> Money:
        """The Amazon deferred balance at the month end, as the ledger holds it after this journal."""
        return self._sum(self.held)

    @property
    def movement(self) -> Money:
        return self.accrued_total - self.reversed_total

    def rows(self) -> list[dict[str, Any]]:
        """Every transaction behind the figures, one CSV row each (role: accrued, reversed, held)."""
        return [
            {"period": self.period, "role": role, **tx.as_row()}
            for role, txs in (("accrued", self.accrued), ("reversed", self.reversed), ("held", self.held))
            for tx in txs
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "marketplace_id": self.marketplace_id,
            "currency": self.currency,
            "period": self.period,
            "accrued": self.accrued_total.as_string(),
            "reversed": self.reversed_total.as_string(),
            "balance": self.balance.as_string(),
            "rows": self.rows(),
        }


def plan_months(
    transactions: Sequence[DeferredTransaction], marketplace_id: str, periods: Sequence[str], first: str
) -> list[MonthDeferrals]:
    """Per month and currency: what is accrued, reversed and held at the month end (pure)."""
    currencies = sorted({tx.total.currency for tx in transactions})
    months = []
    for period in periods:
        _start, end = month_bounds(period)
        for currency in currencies:
            month = MonthDeferrals(marketplace_id, currency, period)
            for tx in transactions:
                if tx.total.currency != currency:
                    continue
                accrued_in = accrual_period(tx, first)
                if accrued_in is None:
                    continue
                release = release_of(tx)
                if accrued_in == period:
                    month.accrued.append(tx)
                elif release is not None and period_of(release) == period and accrued_in < period:
                    month.reversed.append(tx)
                if accrued_in <= period and (release is None or release >= end):
                    month.held.append(tx)
            if month.accrued or month.reversed or month.held:
                months.append(month)
    return months


def month_journal(month: MonthDeferrals, mapping: AccountMapping, mode: str) -> Journal | None:
    """The month-end journal: accrued lines as the settlement maps them, reversed ones negated,
    the net on the deferred account. None when nothing moved. Unmapped keys raise like a
    settlement's (the record fails alone, naming them)."""
    if not month.accrued and not month.reversed:
        return None
    account = mapping.accounts.get(ACCOUNT)
    if not account:
        raise ConfigurationError(
            f"the mapping ({mapping.source}) has no [accounts] {ACCOUNT} (the Amazon deferred balance): "
            f'add deferred = "<account>" to its [accounts] table'
        )
    market = MARKETPLACES.get(month.marketplace_id)
    name = market.name if market else None
    lines = [line for tx in month.accrued for line in tx.lines]
    for tx in month.reversed:
        lines.extend(replace(line, amount=-line.amount) for line in tx.lines)
    net = Money(sum((line.amount.amount for line in lines), Decimal(0)), month.currency)
    end_day = month_end(month.period)
    moment = datetime(end_day.year, end_day.month, end_day.day, 23, 59, tzinfo=UTC)
    pseudo = Settlement(month.key, moment, moment, moment, net, name, "DEFERRED_TRANSACTIONS")
    result = build_journals(LinesReport(pseudo, lines), mapping, mode=mode)  # type: ignore[arg-type]
    result.raise_if_quarantined()
    [journal] = result.journals
    kept = [line for line in journal.lines if line.category not in PAYOUT_CATEGORIES]
    payout = sum(
        (line.net.amount for line in journal.lines if line.category in PAYOUT_CATEGORIES), Decimal(0)
    )
    if Money(payout, month.currency).quantized() != net.quantized():
        raise PermanentError(f"deferral journal {month.key}: the builder's payout line is not the net {net}")
    zero = Money.zero(month.currency)
    amount = Money(abs(payout), month.currency)
    deferred = JournalLine(
        account=account,
        debit=amount if payout > 0 else zero,
        credit=amount if payout < 0 else zero,
        description=mapping.descriptions.get(ACCOUNT) or "Amazon deferred balance",
        reference=month.key,
        dimensions=mapping.dimensions_for(name or "", ()),
        category=ACCOUNT,
    )
    lines_out = tuple([deferred] + kept) if payout else tuple(kept)
    return Journal(
        reference=month.key,
        currency=month.currency,
        posting_date=end_day,
        description=f"Amazon deferred transactions {name or month.marketplace_id}, month end {month.period}",
        lines=lines_out,
        period=month.period,
    )


# -- the run ---------------------------------------------------------------------------------------


def first_period(ctx: FlowContext) -> str:
    """The first month the connection books, fixed on the first run (so each month's journal is
    computed the same way forever)."""
    stored = ctx.store.get_cursor(ctx.name, FLOW)
    if stored:
        return json.loads(stored)["first"]
    first = period_of(ctx.since or ctx.connection.first_run_since(ctx.clock.now()))
    ctx.store.set_cursor(ctx.name, FLOW, json.dumps({"first": first}))
    return first


def bookable_periods(ctx: FlowContext, first: str) -> list[str]:
    """Months from the first one whose end is at least two days past."""
    current = period_of(ctx.clock.now() - SETTLE_DELAY)  # its end is still ahead
    last = period_of(month_bounds(current)[0] - timedelta(days=1))
    return periods_between(first, last) if first <= last else []


def months_of(ctx: FlowContext, marketplace_id: str) -> list[MonthDeferrals]:
    first = first_period(ctx)
    periods = bookable_periods(ctx, first)
    if not periods:
        return []
    start = month_bounds(first)[0] - LOOKBACK
    end = month_bounds(periods[-1])[1]
    txs = list_deferred_transactions(ctx.amazon, marketplace_id, start, end)
    return plan_months(txs, marketplace_id, periods, first)


def source_of(month: MonthDeferrals, journal: Journal | None) -> dict[str, Any]:
    data = month.as_dict()
    data["journal"] = journal.reference if journal else None
    return data


def run(ctx: FlowContext) -> FlowSummary:
    summary = FlowSummary(FLOW, ctx.name)
    engine = ctx.engine(FLOW)
    facts = summary.facts.setdefault("deferrals", [])
    for marketplace_id in ctx.connection.marketplaces:
        for month in months_of(ctx, marketplace_id):
            try:
                journal = month_journal(month, ctx.mapping, ctx.connection.mode)
            except PermanentError as exc:
                engine.fail(
                    KIND, month.key, f"deferral journal {month.key}: {exc}", source=source_of(month, None)
                )
                summary.count("failed")
                continue
            if journal is None:
                summary.count("nothing_moved")
                continue
            result = engine.post(
                JournalDocument(month.key, journal, kind=KIND), ctx.target, source=source_of(month, journal)
            )
            summary.count(result.outcome)
            if result.error:
                summary.notes.append(f"{month.key}: {result.error}")
            facts.append(
                {
                    **month.as_dict(),
                    "state": result.state,
                    "erp_id": result.erp_id,
                    "already": result.already,
                    "account": ctx.mapping.accounts.get(ACCOUNT),
                }
            )
    return summary


def ledger_deferred(store: Store, connection: str) -> dict[tuple[str, str], list[tuple[str, Money]]]:
    """Per (marketplace id, currency): (period, deferred balance after that month's journal), from
    the deferral records the ERP holds (posted or found)."""
    result: dict[tuple[str, str], list[tuple[str, Money]]] = {}
    for record in store.records(connection=connection, flow=FLOW):
        source = record.source or {}
        if (
            record.kind != KIND
            or record.state not in ("posted", "found_existing")
            or not source.get("period")
        ):
            continue
        key = (source["marketplace_id"], source["currency"])
        result.setdefault(key, []).append((source["period"], Money.of(source["balance"], source["currency"])))
    for entries in result.values():
        entries.sort()
    return result


def _rebuild(store: Store, record, source) -> tuple[JournalDocument, ClosingTarget]:
    """Replay: fetch the month again from Amazon and map it with the mapping as it is now."""
    connection = store.connection_name(record.connection_id)
    ctx = context_for_record(store, connection)
    try:
        marketplace_id = (source or {}).get("marketplace_id")
        for month in months_of(ctx, marketplace_id) if marketplace_id else ():
            if month.key == record.key:
                journal = month_journal(month, ctx.mapping, ctx.connection.mode)
                if journal is not None:
                    return JournalDocument(month.key, journal, kind=KIND), ClosingTarget(ctx)
    except BaseException:
        ctx.close()
        raise
    ctx.close()
    raise PermanentError(f"deferral journal {record.key}: Amazon no longer shows anything to book for it")


# -- the transactions behind a settlement ----------------------------------------------------------

CSV_COLUMNS = (
    "period", "role", "transaction_id", "order_id", "marketplace_id", "status", "reason", "earned", "maturity",
    "release_transaction_id", "amount", "currency",
)  # fmt: skip


def released_in(
    store: Store, settlement: Settlement, order_ids: Iterable[str], connection: str | None = None
) -> list[dict[str, Any]]:
    """The deferred transactions a settlement paid: released (maturity) within its period, for an
    order it holds, as the deferrals journals recorded them (one row each, role ``released``)."""
    orders = {o for o in order_ids if o}
    start, end = settlement.start - timedelta(days=1), settlement.end + timedelta(days=1)
    rows: dict[str, dict[str, Any]] = {}
    for record in store.records(connection=connection, flow=FLOW):
        for row in (record.source or {}).get("rows", []) if record.kind == KIND else ():
            maturity = datetime.fromisoformat(row["maturity"]) if row.get("maturity") else None
            if (
                row["status"] == "DEFERRED_RELEASED"
                and row["order_id"] in orders
                and row["currency"] == settlement.currency
                and maturity is not None
                and start <= maturity < end
            ):
                rows[row["transaction_id"]] = {**row, "role": "released"}
    return sorted(rows.values(), key=lambda r: (r["maturity"], r["transaction_id"]))


def rows_csv(rows: Iterable[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def released_csv(report_bytes: bytes) -> str:
    """`settlement show --deferrals`: the CSV of the deferred transactions this report paid, from
    the store of the configured deployment (empty, with its header, when none are recorded)."""
    from ml_connector.config import load_config
    from ml_connector.errors import MlConnectorError
    from ml_connector.flows.reconcile.sums import sum_report

    stored = sum_report(report_bytes)
    try:
        url = load_config().store_url
    except MlConnectorError:
        return rows_csv([])  # no deployment configured: nothing recorded to list
    with Store.open(url) as store:
        orders = {key[0] for key in stored.keys}
        return rows_csv(released_in(store, stored.settlement, orders))


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {KIND: _rebuild}
