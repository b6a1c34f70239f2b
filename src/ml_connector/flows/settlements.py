"""The settlements flow: every new settlement report becomes its balanced journal(s) in the ERP.

Per report: download, keep the raw bytes in the store on first sight (Amazon deletes reports after
90 days), build the journal(s) with the settlement engine, and post. A settlement is one record of
kind ``settlement``; each of its journals (one, or one per accounting period when split) is a record
of kind ``journal`` keyed by the journal's reference, posted through the engine's protocol; where
the ERP clears the order invoices by payment (Acumatica, ``invoice_settlement = 'payment'``), each
journal's AR payment is a record of kind ``ar_payment`` under the same key, its amounts decided here
from the report's own order lines (what the settlement collected per invoiced order). A
quarantined settlement (lines not summing to the total, an unmapped fee) fails alone, naming the
numbers, and is replayed once the cause is fixed: `ml-connector replay`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store, one_line
from ml_connector.errors import ConfigurationError, PermanentError, TransientError
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.flows.reconcile.sums import keep_report_sums
from ml_connector.model.documents import JournalDocument, PaymentDocument
from ml_connector.model.money import Money
from ml_connector.settlement.balance import amazon_balance
from ml_connector.settlement.errors import QuarantineError
from ml_connector.settlement.journal_builder import BuildResult, PayoutConversion, build_journals
from ml_connector.settlement.mapping import AccountMapping
from ml_connector.settlement.reader import open_report
from ml_connector.sources.amazon.api.reports import SETTLEMENT_V2
from ml_connector.sources.amazon.regions import MARKETPLACES
from ml_connector.targets.protocol import PostingTarget

log = logging.getLogger(__name__)

FLOW = "settlements"
RAW_KIND = "settlement_report"
AMAZON_RETENTION = timedelta(days=90)
DONE = ("posted", "found_existing")


@dataclass(frozen=True)
class SettlementDocument:
    """A whole settlement: its journals, each posted under its own key, and (payment mode) each
    journal's AR payment under the journal's key."""

    key: str  # the settlement id
    journals: tuple[JournalDocument, ...]
    kind: str = "settlement"
    payments: Mapping[str, PaymentDocument] = field(default_factory=dict)  # journal key -> its payment


def payment_mode(connection) -> bool:  # noqa: ANN001 - ConnectionConfig
    """The connection clears its order invoices by AR payment (Acumatica, ``invoice_settlement =
    'payment'``, invoice mode)."""
    table = connection.acumatica or {}
    return (
        connection.erp == "acumatica"
        and connection.mode == "invoice"
        and table.get("invoice_settlement") == "payment"
    )


def ar_payments(data: bytes, result: BuildResult, mapping: AccountMapping) -> dict[str, PaymentDocument]:
    """Journal key -> the AR payment it asks for: per Amazon order, the net of the report's lines that
    clear the receivable (the lines the order's invoice already holds; the same rule the journal's
    receivable line is built by), in the journal of the line's period when split; orders with
    nothing positive collected are left out (a refund is the credit memo's business)."""
    if result.quarantined or not result.journals:
        return {}
    settlement = result.settlement
    currency = settlement.currency
    default_market = settlement.marketplace or ""
    by_period = {journal.period: journal for journal in result.journals}
    payout_day = (settlement.deposit_date or settlement.end).date()
    collected: dict[str, dict[str, Decimal]] = {}  # journal key -> order -> amount
    for line in open_report(data).lines():
        if not line.order_id:
            continue
        tt, at, ad = line.transaction_type.strip(), line.amount_type.strip(), line.amount_description.strip()
        res = mapping.resolve((tt, at, ad), (line.marketplace_name or "").strip() or default_market)
        if res is None or not mapping.clears_receivable(tt, res.category):
            continue
        if result.split_by_period:
            day = line.posted_date or payout_day
            journal = by_period.get(f"{day.year:04d}-{day.month:02d}") or by_period.get(
                f"{payout_day.year:04d}-{payout_day.month:02d}"
            )
        else:
            journal = result.journals[0]
        if journal is None:
            continue
        orders = collected.setdefault(journal.reference, {})
        orders[line.order_id] = orders.get(line.order_id, Decimal(0)) + line.amount.amount
    payments = {}
    for journal in result.journals:
        applications = tuple(
            (order, Money(amount, currency))
            for order, amount in sorted(collected.get(journal.reference, {}).items())
            if amount > 0
        )
        if applications:
            payments[journal.reference] = PaymentDocument(
                journal.reference, journal.posting_date, applications
            )
    return payments


class SettlementPoster:
    """Posts a settlement by posting each of its journals (and each journal's AR payment, where the
    connection clears invoices by payment) through the protocol.

    ``find`` has nothing to look up of its own: every journal and payment is found first under its
    own key, so posting again after a crash only fills in what is still missing."""

    def __init__(self, engine: PostingEngine, target: PostingTarget, on_close=None) -> None:
        self.engine = engine
        self.target = target
        self._on_close = on_close

    def find(self, document: SettlementDocument) -> str | None:
        return None

    def post(self, document: SettlementDocument) -> str:
        posted, failed, pending = [], [], []
        for journal in document.journals:
            source = {
                "settlement_id": document.key,
                "period": journal.journal.period,
                "reference": journal.key,
            }
            result = self.engine.post(journal, self.target, source=source)
            if result.state in DONE:
                posted.append(result.erp_id or "")
            elif result.state in ("failed", "duplicate_suspected"):
                failed.append(f"journal {journal.key}: {result.error}")
            else:
                pending.append(journal.key)
            payment = document.payments.get(journal.key) if result.state in DONE else None
            if payment is None:
                continue
            paid = self.engine.post(payment, self.target, source={**source, "ar_payment": True})
            if paid.state in DONE:
                posted.append(paid.erp_id or "")
            elif paid.state in ("failed", "duplicate_suspected"):
                failed.append(f"AR payment {payment.key}: {paid.error}")
            else:
                pending.append(f"AR payment {payment.key}")
        if failed:
            raise PermanentError("; ".join(failed))
        if pending:
            raise TransientError(f"journal(s) {', '.join(pending)} not posted yet; retried on the next run")
        return ", ".join(posted)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


def marketplace_id_of(name: str | None) -> str | None:
    for marketplace in MARKETPLACES.values():
        if name and marketplace.name.lower() == name.lower():
            return marketplace.marketplace_id
    return None


MARKETPLACE_CHOICE = "marketplace:{}"  # the store cursor holding a person's choice for one settlement


class MarketplaceUnknown(QuarantineError):
    """A fee-only settlement names no marketplace and the connection sells on several."""

    reason = "marketplace_unknown"


def marketplace_name(connection, value: str) -> str | None:  # noqa: ANN001 - ConnectionConfig
    """A marketplace of the connection by its id or name (any case), as its seller-facing name."""
    for marketplace_id in connection.marketplaces:
        marketplace = MARKETPLACES[marketplace_id]
        if value.strip().casefold() in (marketplace_id.casefold(), marketplace.name.casefold()):
            return marketplace.name
    return None


def chosen_marketplace(store: Store, connection: str, settlement_id: str) -> str | None:
    return store.get_cursor(connection, MARKETPLACE_CHOICE.format(settlement_id))


def set_marketplace(store: Store, connection, settlement_id: str, value: str) -> str:  # noqa: ANN001
    """Record which marketplace a settlement without one books under (`settlement set-marketplace`)."""
    name = marketplace_name(connection, value)
    if name is None:
        known = ", ".join(f"{MARKETPLACES[m].name} ({m})" for m in connection.marketplaces)
        raise ConfigurationError(
            f"{value!r} is not a marketplace of connection {connection.name}: choose one of {known}"
        )
    store.set_cursor(connection.name, MARKETPLACE_CHOICE.format(settlement_id), name)
    return name


def settlement_marketplace(
    store: Store,
    connection,  # noqa: ANN001 - ConnectionConfig
    data: bytes,
    listed: tuple[str, ...] = (),
) -> tuple[str | None, str]:
    """(marketplace to book under, how it was decided): the report's own lines, a person's choice,
    the one marketplace getReports listed the report under (kept as the choice, so that a replay
    decides the same), the connection's only marketplace; else raises MarketplaceUnknown with the
    question to answer."""
    header = open_report(data).settlement
    if header.marketplace:
        return None, "report"
    choice = chosen_marketplace(store, connection.name, header.settlement_id)
    if choice:
        return choice, "chosen"
    ours = [m for m in listed if m in connection.marketplaces]
    if len(ours) == 1:
        name = MARKETPLACES[ours[0]].name
        store.set_cursor(connection.name, MARKETPLACE_CHOICE.format(header.settlement_id), name)
        return name, "report_listing"
    if len(connection.marketplaces) == 1:
        return MARKETPLACES[connection.marketplaces[0]].name, "connection"
    names = ", ".join(MARKETPLACES[m].name for m in connection.marketplaces)
    raise MarketplaceUnknown(
        f"settlement {header.settlement_id} has only account-level lines (no marketplace-name) and "
        f"connection {connection.name} sells on {names}: which marketplace does it belong to? Answer with "
        f"`ml-connector settlement set-marketplace {header.settlement_id} MARKETPLACE --connection {connection.name}`"
    )


PAYOUT_CONVERSION = "payout-fx:{}"  # the store cursor: the converted deposit of one settlement


def payout_conversion(
    store: Store, connection: str, settlement_id: str, total: Money
) -> PayoutConversion | None:
    """The deposit Amazon converted to the bank's currency, and the ledger's booking rate (or why
    there is none), as kept when the settlement was fetched."""
    kept = store.get_cursor(connection, PAYOUT_CONVERSION.format(settlement_id))
    if not kept:
        return None
    if not kept.startswith("{"):  # kept before booking rates were read: "720.00 GBP"
        amount, currency = kept.split(" ")
        return PayoutConversion(original=total, converted=Money(Decimal(amount), currency))
    value = json.loads(kept)
    rate = value.get("booking_rate")
    return PayoutConversion(
        original=total,
        converted=Money(Decimal(value["amount"]), value["currency"]),
        booking_rate=Decimal(rate) if rate else None,
        rate_source=value.get("rate_source", ""),
    )


def booking_rate(target, currency: str, bank_currency: str, on: date) -> tuple[Decimal | None, str]:  # noqa: ANN001
    """The ledger's rate (bank currency per unit of the journal's) from the ERP, or why there is none."""
    reader = getattr(target, "booking_rate", None)
    if reader is None:
        return None, f"the {getattr(target, 'name', 'ERP')} target reads no exchange rates"
    try:
        return reader(currency, bank_currency, on)
    except (PermanentError, ConfigurationError) as exc:  # a passing outage propagates: asked again next run
        return None, f"the ERP's exchange rate could not be read: {one_line(exc)}"


def keep_conversion(ctx: FlowContext, groups: list, settlement) -> None:  # noqa: ANN001
    """Finances event group of the settlement (same currency, start within a day): when its
    ConvertedTotal is in another currency, keep it with the ledger's booking rate on the deposit
    date (read once from the ERP), so that every rebuild books the same bank and FX lines."""
    key = PAYOUT_CONVERSION.format(settlement.settlement_id)
    for group in groups:
        original, converted = group.original_total, group.converted_total
        if original is None or converted is None or original.currency != settlement.currency:
            continue
        if group.start is None or abs(group.start - settlement.start) > timedelta(days=1):
            continue
        if converted.currency != original.currency:
            kept = ctx.store.get_cursor(ctx.name, key)
            if kept and kept.startswith("{") and json.loads(kept).get("amount") == str(converted.amount):
                return  # the rate was decided when the settlement was first seen
            day = (settlement.deposit_date or settlement.end).date()
            rate, source = booking_rate(ctx.target, original.currency, converted.currency, day)
            value = {
                "amount": str(converted.amount),
                "currency": converted.currency,
                "booking_rate": str(rate) if rate else None,
                "rate_source": source,
            }
            ctx.store.set_cursor(ctx.name, key, json.dumps(value))
        return


def conversion_facts(result: BuildResult) -> dict[str, Any] | None:
    """What the settlement record says about a converted payout: Amazon's rate, the booking rate
    and the realised FX booked, or, without a booking rate, that none was booked and why."""
    conversion = result.conversion
    if conversion is None or conversion.converted.currency == result.settlement.currency:
        return None
    fx = sum(
        (
            ln.debit.amount - ln.credit.amount
            for j in result.journals
            for ln in j.lines
            if ln.category == "fx"
        ),
        Decimal(0),
    )
    facts: dict[str, Any] = {
        "converted": f"{conversion.converted.as_string()} {conversion.converted.currency}",
        "amazon_rate": str(conversion.rate),
        "booking_rate": str(conversion.booking_rate) if conversion.booking_rate else None,
        "rate_source": conversion.rate_source,
        "realised_fx": f"{fx} {result.settlement.currency}",  # + = a loss (debit)
    }
    if not conversion.booking_rate:
        facts["note"] = (
            "no realised FX booked: the bank line is at Amazon's rate because the ledger's booking rate "
            f"is unknown ({conversion.rate_source or 'not read'}); the ERP's revaluation of the bank "
            "account books the difference"
        )
    return facts


def build(
    ctx_mapping, connection, data: bytes, marketplace: str | None = None, store: Store | None = None
) -> BuildResult:
    report = open_report(data)
    conversion = None
    if store is not None:
        header = report.settlement
        conversion = payout_conversion(store, connection.name, header.settlement_id, header.total)
    return build_journals(
        report,
        ctx_mapping,
        mode=connection.mode,
        split_by_period=connection.split_by_period,
        marketplace=marketplace,
        conversion=conversion,
    )


def check_accounts(target, result: BuildResult) -> list[str]:  # noqa: ANN001 - an ErpTarget
    """Every account of the settlement's journals against the ERP's chart, before any write."""
    checker = getattr(target, "check_accounts", None)
    if checker is None:
        return []
    lines = [line for journal in result.journals for line in journal.lines]
    return list(checker({line.account for line in lines}, {dim for line in lines for dim in line.dimensions}))


def settlement_document(
    result: BuildResult, payments: Mapping[str, PaymentDocument] | None = None
) -> SettlementDocument:
    journals = tuple(JournalDocument(journal.reference, journal) for journal in result.journals)
    return SettlementDocument(result.settlement.settlement_id, journals, payments=dict(payments or {}))


def _facts(result: BuildResult) -> dict[str, Any]:
    settlement = result.settlement
    return {
        "settlement_id": settlement.settlement_id,
        "marketplace": settlement.marketplace,
        "total": settlement.total.as_string(),
        "currency": settlement.currency,
        "start": settlement.start.isoformat(),
        "end": settlement.end.isoformat(),
        "journals": [journal.reference for journal in result.journals],
    }


def _since(ctx: FlowContext, summary: FlowSummary) -> datetime:
    now = ctx.clock.now()
    stored = ctx.store.get_cursor(ctx.name, FLOW)
    since = ctx.since or (datetime.fromisoformat(stored) if stored else ctx.connection.first_run_since(now))
    if since < now - AMAZON_RETENTION:
        warning = (
            f"the settlements cursor ({since:%Y-%m-%d}) is older than Amazon's 90-day report retention: "
            "reports between then and now may already be gone; recover them from Seller Central"
        )
        log.warning("%s: %s", ctx.name, warning)
        summary.notes.append(warning)
        since = now - AMAZON_RETENTION
    return since


def run(ctx: FlowContext) -> FlowSummary:
    summary = FlowSummary(FLOW, ctx.name)
    engine = ctx.engine(FLOW)
    since = _since(ctx, summary)
    marketplaces = set(ctx.connection.marketplaces)
    reports = sorted(
        ctx.amazon.list_settlement_reports(since, marketplace_ids=ctx.connection.marketplaces),
        key=lambda info: info.created or since,
    )
    newest = since
    ctx.progress.start(f"settlements {ctx.name}", len(reports))
    posted_facts = summary.facts.setdefault("settlements", [])
    groups: list | None = None
    held_back: datetime | None = None  # a report that could not be downloaded is read again next run
    for info in reports:
        if info.report_type and info.report_type != SETTLEMENT_V2:
            summary.count("retired_format")  # Amazon retired V1 and XML on 2026-11-11: V2 only
            ctx.progress.advance()
            continue
        data = _download(ctx, info.report_id)
        if data is None:
            summary.count("deferred")
            summary.notes.append(f"report {info.report_id} could not be downloaded; read again next run")
            if info.created:
                held_back = min(held_back or info.created, info.created)
            ctx.progress.advance()
            continue
        try:
            header = open_report(data).settlement
        except Exception as exc:  # bad data fails its own record, never the run or the cursor
            reason = str(exc) if isinstance(exc, QuarantineError) else f"cannot be read: {one_line(exc)}"
            engine.fail("settlement", f"report-{info.report_id}", f"report {info.report_id}: {reason}")
            summary.count("failed")
            ctx.progress.advance()
            continue
        market = marketplace_id_of(header.marketplace)
        if market is not None and market not in marketplaces:
            summary.count("other_marketplace")  # another connection's settlement
            ctx.progress.advance()
            continue
        settlement_id = header.settlement_id
        if ctx.store.keep_raw_document(ctx.name, RAW_KIND, settlement_id, data):
            keep_report_sums(ctx.store, ctx.name, settlement_id, data)  # what reconcile reads
        existing = ctx.store.find_record(ctx.name, "settlement", settlement_id)
        if existing is not None and existing.state in DONE:
            summary.count("already_posted")
        else:
            engine.note(
                "settlement", settlement_id, "fetched", {"report_id": info.report_id, "bytes": len(data)}
            )
            if groups is None:  # one listFinancialEventGroups page per run, only when there is work
                groups = list(ctx.amazon.list_financial_event_groups(since - timedelta(days=30)))
            keep_conversion(ctx, groups, header)
            outcome, facts = post_settlement(ctx, engine, settlement_id, data, tuple(info.marketplace_ids))
            summary.count(outcome)
            if outcome in DONE:
                posted_facts.append(facts)
        if info.created and info.created > newest:
            newest = info.created
        ctx.progress.advance()
    ctx.progress.finish()
    if held_back is not None:
        newest = min(newest, held_back - timedelta(seconds=1))
    ctx.store.set_cursor(ctx.name, FLOW, newest.isoformat())
    return summary


def _download(ctx: FlowContext, report_id: str) -> bytes | None:
    """The report's bytes, or None when Amazon would not give them (the caller holds the cursor
    before the report, so the next run asks again): a presigned URL that expired (HTTP 403) is
    asked for again once, with a fresh URL. No record is made: nothing about the report is known
    yet, and the next run's download either posts it or defers it again."""
    problem: Exception | None = None
    for _ in range(2):
        try:
            return ctx.amazon.download_report(report_id)
        except Exception as exc:  # httpx.HTTPStatusError, TransientError, a report without document
            problem = exc
    reason = f"report {report_id} could not be downloaded: {one_line(problem)}" if problem else ""
    log.warning("%s: %s", ctx.name, reason)
    return None


def header_source(data: bytes) -> dict[str, str]:
    """The payout and the days of the report's header, kept on the record's source so the console
    finds the settlement by amount and by day (engine.search_facts); empty when unreadable."""
    try:
        header = open_report(data).settlement
    except Exception:  # the same report fails below with its reason; the search facts just stay unknown
        return {}
    return {
        "total": header.total.as_string(),
        "currency": header.currency,
        "start": header.start.date().isoformat(),
        "end": header.end.date().isoformat(),
        **({"deposit": header.deposit_date.date().isoformat()} if header.deposit_date else {}),
    }


def post_settlement(
    ctx: FlowContext, engine: PostingEngine, settlement_id: str, data: bytes, listed: tuple[str, ...] = ()
) -> tuple[str, dict]:
    source = {"settlement_id": settlement_id, "raw_document": RAW_KIND, **header_source(data)}
    try:
        marketplace, decided = settlement_marketplace(ctx.store, ctx.connection, data, listed)
    except MarketplaceUnknown as exc:
        engine.fail("settlement", settlement_id, f"held: {exc}", source=source)
        return "failed", {}
    except Exception as exc:  # a report the reader cannot handle fails alone
        reason = (
            f"quarantined: {exc}"
            if isinstance(exc, QuarantineError)
            else f"the report cannot be read: {one_line(exc)}"
        )
        engine.fail("settlement", settlement_id, reason, source=source)
        return "failed", {}
    try:
        result = build(ctx.mapping, ctx.connection, data, marketplace, ctx.store)
    except Exception as exc:  # a report the reader or builder cannot handle fails alone
        if isinstance(exc, QuarantineError):
            reason = f"quarantined: {exc}"
        else:
            log.error("%s settlement %s: %s", ctx.name, settlement_id, one_line(exc), exc_info=True)
            reason = f"the report cannot be read: {one_line(exc)}"
        engine.fail("settlement", settlement_id, reason, source=source)
        return "failed", {}
    if result.quarantined:
        engine.fail("settlement", settlement_id, f"quarantined: {result.reason}", source=source)
        return "failed", {}
    problems = check_accounts(ctx.target, result)
    if problems:
        engine.fail(
            "settlement",
            settlement_id,
            f"not posted: the ERP cannot take {len(problems)} account(s) or dimension(s): {'; '.join(problems)}; "
            "create or reopen them in the ERP, or change the mapping, then replay",
            source=source,
        )
        return "failed", {}
    facts = _facts(result)
    if decided != "report":
        facts["marketplace"] = marketplace
        facts["marketplace_from"] = decided  # inferred from the connection, or chosen by a person
    balance = amazon_balance(result, ctx.mapping)
    facts["amazon_balance"] = balance.closing.as_string()  # what the seller owes Amazon afterwards
    facts["paid_to_bank"] = balance.paid_to_bank.as_string()
    fx_facts = conversion_facts(result)
    if fx_facts is not None:
        facts["payout_conversion"] = fx_facts
        if fx_facts.get("note"):
            log.warning("%s settlement %s: %s", ctx.name, settlement_id, fx_facts["note"])
    engine.note("settlement", settlement_id, "transformed", facts)
    payments = ar_payments(data, result, ctx.mapping) if payment_mode(ctx.connection) else {}
    outcome = engine.post(
        settlement_document(result, payments), SettlementPoster(engine, ctx.target), source=source
    )
    facts["erp_ids"] = outcome.erp_id
    return outcome.outcome, facts


# -- replay: rebuild from the kept raw report with today's mapping ------------------------------------


def _rebuild_settlement(store: Store, record, source) -> tuple[SettlementDocument, SettlementPoster]:
    connection = store.connection_name(record.connection_id)
    data = store.raw_document(connection, RAW_KIND, record.key)
    if data is None:
        raise PermanentError(f"settlement {record.key}: the raw report is not in the store; fetch it again")
    ctx = context_for_record(store, connection)
    try:
        marketplace, _decided = settlement_marketplace(store, ctx.connection, data)
        result = build(ctx.mapping, ctx.connection, data, marketplace, store)
        result.raise_if_quarantined()
        problems = check_accounts(ctx.target, result)
        if problems:
            raise PermanentError(f"not posted: the ERP cannot take the account(s): {'; '.join(problems)}")
    except BaseException:
        ctx.close()
        raise
    payments = ar_payments(data, result, ctx.mapping) if payment_mode(ctx.connection) else {}
    poster = SettlementPoster(ctx.engine(FLOW), ctx.target, on_close=ctx.close)
    return settlement_document(result, payments), poster


def _journal_again(store: Store, record, source):  # noqa: ANN001, ANN202 - (JournalDocument, payment, ctx)
    """The journal a journal (or AR payment) record was made from and that journal's AR payment
    (None outside payment mode), rebuilt from the kept raw report with today's mapping, and the
    context to post them in."""
    settlement_id = (source or {}).get("settlement_id") or record.key
    connection = store.connection_name(record.connection_id)
    data = store.raw_document(connection, RAW_KIND, settlement_id)
    if data is None:
        raise PermanentError(f"journal {record.key}: the raw report is not in the store")
    ctx = context_for_record(store, connection)
    marketplace, _decided = settlement_marketplace(store, ctx.connection, data)
    result = build(ctx.mapping, ctx.connection, data, marketplace, store)
    for journal in result.journals:
        if journal.reference == record.key:
            payments = ar_payments(data, result, ctx.mapping) if payment_mode(ctx.connection) else {}
            return JournalDocument(journal.reference, journal), payments.get(journal.reference), ctx
    ctx.close()
    raise PermanentError(f"journal {record.key} is no longer produced by settlement {settlement_id}")


def _rebuild_journal(store: Store, record, source) -> tuple[JournalDocument, PostingTarget]:
    journal, _payment, ctx = _journal_again(store, record, source)
    return journal, ClosingTarget(ctx)


def _rebuild_ar_payment(store: Store, record, source) -> tuple[PaymentDocument, PostingTarget]:
    _journal, payment, ctx = _journal_again(store, record, source)
    if payment is None:
        ctx.close()
        raise PermanentError(f"settlement journal {record.key} no longer asks for an AR payment")
    return payment, ClosingTarget(ctx)


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {
    "settlement": _rebuild_settlement,
    "journal": _rebuild_journal,
    "ar_payment": _rebuild_ar_payment,
}
