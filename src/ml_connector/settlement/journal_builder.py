"""Turns a settlement report into balanced GL journals, or says exactly why it cannot.

The accounting model (docs/DESIGN.md): a positive amount (money to the seller) is a credit to its
account, a negative one a debit; the payout (total-amount) is one debit to the bank account. A
negative total reaches no bank: the seller owes Amazon, so it is a credit to the Amazon balance
account (which the next settlement's "Payable to Amazon" line clears); a zero total has no bank
line at all. The bank line is therefore always money that really reached the bank. Lines are
summed per (account, dimensions). In invoice
mode, the order lines already invoiced in the ERP clear the marketplace receivable instead of
being revenue again. Split by period, each calendar month (by posted date) gets its own journal,
balanced through the Amazon clearing account; the payout lands in the month of the deposit date.

The hot loop sums raw records per (key, marketplace, posted day) with Decimal only; the mapping
is resolved once per distinct key afterwards, so memory depends on the vocabulary, not the rows.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Literal, Protocol

from ml_connector.model.journal import Journal, JournalLine
from ml_connector.model.money import Money, currency_exponent
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.errors import MixedCurrencies, QuarantineError, TotalMismatch, UnmappedKeys
from ml_connector.settlement.mapping import AccountMapping, Resolution
from ml_connector.settlement.reader import Record
from ml_connector.settlement.sums import LineSums

Mode = Literal["summary", "invoice"]
_ZERO = Decimal(0)


class _Report(Protocol):
    settlement: Settlement

    def records(self) -> Iterator[Record]: ...


@dataclass(frozen=True, slots=True)
class UnmappedKey:
    """A (transaction-type, amount-type, amount-description) no rule maps, with the rule to add."""

    transaction_type: str
    amount_type: str
    amount_description: str
    marketplace: str
    lines: int
    amount: Money
    first_line: int
    suggested_rule: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.transaction_type, self.amount_type, self.amount_description)


@dataclass(frozen=True, slots=True)
class PayoutConversion:
    """Amazon converted the deposit to the bank account's currency (Finances event group:
    ``ConvertedTotal`` differs from ``OriginalTotal``). ``booking_rate`` is the rate the ledger
    translates the bank's currency at (bank currency per marketplace currency unit), when known."""

    original: Money
    converted: Money
    booking_rate: Decimal | None = None
    rate_source: str = ""  # where the booking rate came from, or why there is none

    @property
    def rate(self) -> Decimal:
        """Amazon's rate: bank currency per unit of the marketplace currency."""
        return (self.converted.amount / self.original.amount).quantize(Decimal("0.000001"))


@dataclass
class BuildResult:
    settlement: Settlement
    mode: Mode
    split_by_period: bool
    journals: list[Journal] = field(default_factory=list)
    unmapped: list[UnmappedKey] = field(default_factory=list)
    lines_total: Money | None = None
    line_count: int = 0
    categories: dict[str, Money] = field(default_factory=dict)  # signed totals (+ = to the seller)
    category_labels: dict[str, str] = field(default_factory=dict)
    errors: list[QuarantineError] = field(default_factory=list)
    conversion: PayoutConversion | None = None

    @property
    def quarantined(self) -> bool:
        return bool(self.errors)

    @property
    def reason(self) -> str | None:
        """Every reason the settlement cannot be posted, one per line; None when it can."""
        return "\n".join(str(error) for error in self.errors) or None

    def raise_if_quarantined(self) -> None:
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else QuarantineError(self.reason or "")


class LinesReport:
    """Lets the builder take SettlementLine objects (the sandbox, tests) instead of a file."""

    def __init__(self, settlement: Settlement, lines: Iterable[SettlementLine]) -> None:
        self.settlement = settlement
        self._lines = lines

    def records(self) -> Iterator[Record]:
        for n, line in enumerate(self._lines, start=1):
            yield (
                line.transaction_type,
                line.amount_type,
                line.amount_description,
                line.amount.amount,
                line.posted_date,
                line.marketplace_name or "",
                line.amount.currency,
                line.line_number or n,
                [],
            )


def build_journals(
    report: _Report,
    mapping: AccountMapping,
    *,
    mode: Mode = "summary",
    split_by_period: bool = False,
    marketplace: str | None = None,
    conversion: PayoutConversion | None = None,
) -> BuildResult:
    """Read every line once and build the journal(s), or a quarantined result naming the numbers.

    ``marketplace`` is the one to book under when the report names none (a fee-only settlement:
    the connection's marketplace, or the one a person chose with `settlement set-marketplace`).
    ``conversion``: the payout reached the bank converted to another currency (see DESIGN.md)."""
    if mode not in ("summary", "invoice"):
        raise ValueError(f"mode must be 'summary' or 'invoice', not {mode!r}")
    settlement = report.settlement
    if not settlement.marketplace and marketplace:
        settlement = replace(settlement, marketplace=marketplace)
    result = BuildResult(settlement, mode, split_by_period)
    result.conversion = conversion
    try:
        acc = LineSums(settlement.currency)
        if hasattr(report, "accumulate"):
            report.accumulate(acc)  # the reader's fused loop
        else:
            acc.add_records(report.records())
        sums, foreign, count, lines_total = acc.sums, acc.foreign, acc.count, acc.total
    except QuarantineError as exc:  # a bad cell, a truncated file: found while streaming
        result.errors.append(exc)
        return result
    currency = settlement.currency
    result.line_count = count
    result.lines_total = Money(lines_total, currency)
    default_market = settlement.marketplace or ""

    # Resolve each distinct key once; collect what is unmapped.
    resolved: dict[tuple[str, str, str, str], Resolution | None] = {}
    unmapped: dict[tuple[str, str, str, str], list] = {}
    for (tt, at, ad, market, _day), (amount, n, first) in sums.items():
        lookup = (tt, at, ad, market)
        if lookup not in resolved:
            key = (tt.strip(), at.strip(), ad.strip())
            resolved[lookup] = mapping.resolve(key, market.strip() or default_market)
        res = resolved[lookup]
        if res is None:
            entry = unmapped.setdefault(
                (tt.strip(), at.strip(), ad.strip(), market.strip()), [_ZERO, 0, first]
            )
            entry[0] += amount
            entry[1] += n
            entry[2] = min(entry[2], first)
        else:
            result.categories[res.category] = result.categories.get(
                res.category, Money.zero(currency)
            ) + Money(amount, currency)
            result.category_labels[res.category] = mapping.category_label(res.category)
    result.unmapped = [
        UnmappedKey(
            tt.strip(), at.strip(), ad.strip(), market.strip() or default_market, n, Money(amount, currency), first,
            mapping.suggest_rule((tt.strip(), at.strip(), ad.strip()), 1 if amount >= 0 else -1),
        )
        for (tt, at, ad, market), (amount, n, first) in sorted(unmapped.items(), key=lambda kv: kv[1][2])
    ]  # fmt: skip

    _check(result, foreign, lines_total, getattr(report, "ends_with_line_break", True))
    if result.errors:
        return result
    result.journals = _journals(result, sums, resolved, mapping)
    return result


def _check(result: BuildResult, foreign: dict[str, list], lines_total: Decimal, complete: bool) -> None:
    settlement = result.settlement
    currency = settlement.currency
    sid = settlement.settlement_id
    if foreign:
        parts = [
            f"{n} line(s) in {cur} totalling {Money(amount, cur).as_string()} {cur} (lines {', '.join(map(str, lines))}"
            f"{', ...' if n > len(lines) else ''})"
            for cur, (amount, n, lines) in sorted(foreign.items())
        ]
        result.errors.append(
            MixedCurrencies(f"settlement {sid} is in {currency}, but the file also has {'; '.join(parts)}")
        )
    if result.unmapped:
        listing = "; ".join(
            f"({u.transaction_type!r}, {u.amount_type!r}, {u.amount_description!r}) x{u.lines} = {u.amount}, "
            f"first on line {u.first_line}"
            for u in result.unmapped
        )
        result.errors.append(
            UnmappedKeys(f"{len(result.unmapped)} key(s) have no account in the mapping: {listing}")
        )
    total = settlement.total
    lines_money = Money(lines_total, currency)
    if not foreign and lines_money.quantized() != total.quantized():
        hint = " (the file has no lines: it may be truncated)" if result.line_count == 0 else ""
        if not complete:
            hint = " (the file ends without a line break: it may be truncated; download it again)"
        result.errors.append(
            TotalMismatch(
                f"settlement {sid}: the {result.line_count} lines sum to {lines_money}, but total-amount is "
                f"{total}; difference {(lines_money - total)}{hint}"
            )
        )


def _journals(
    result: BuildResult,
    sums: dict[tuple, list],
    resolved: dict[tuple[str, str, str, str], Resolution | None],
    mapping: AccountMapping,
) -> list[Journal]:
    settlement = result.settlement
    currency = settlement.currency
    default_market = settlement.marketplace or ""
    payout_day = (settlement.deposit_date or settlement.end).date()
    split = result.split_by_period
    payout_period = _period(payout_day) if split else None
    receivables: dict[str, Resolution] = {}

    # (period, account, dimensions, is_payout) -> [net amount (+ = credit), descriptions, categories]
    # The payout stays its own line even when a rule maps other lines to the bank account.
    groups: dict[tuple[str | None, str, tuple[tuple[str, str], ...], bool], list] = {}

    def add(period: str | None, res: Resolution, amount: Decimal, payout: bool = False) -> None:
        entry = groups.setdefault((period, res.account, res.dimensions, payout), [_ZERO, set(), set()])
        entry[0] += amount
        entry[1].add(res.description)
        entry[2].add(res.category)

    for (tt, at, ad, market, day), (amount, _n, _first) in sums.items():
        res = resolved[(tt, at, ad, market)]
        assert res is not None  # unmapped keys quarantine before this point
        if result.mode == "invoice" and mapping.clears_receivable(tt.strip(), res.category):
            mk = market.strip() or default_market
            res = receivables.get(mk) or receivables.setdefault(mk, mapping.special("receivable", mk))
        period = (_period(day) if day else payout_period) if split else None
        add(period, res, amount)

    total = settlement.total.amount
    conversion = result.conversion
    converted = conversion is not None and total > 0 and conversion.converted.currency != currency
    if converted:
        assert conversion is not None
        _converted_payout(add, payout_period, mapping, default_market, settlement.total, conversion)
    elif total > 0:
        add(payout_period, mapping.special("bank", default_market), -total, payout=True)  # a debit
    elif total < 0:  # nothing reached the bank: the seller now owes Amazon the difference
        # Category "bank" marks the payout line (total-amount) wherever it posts, so that summaries
        # and reconcile find it; its account is the Amazon balance, never the bank.
        owed = mapping.special("amazon_balance", default_market)
        owed = Resolution(owed.account, "bank", "Owed to Amazon (negative settlement)", owed.dimensions)
        add(payout_period, owed, -total, payout=True)  # a credit to the Amazon balance

    periods = sorted({key[0] for key in groups} or {payout_period}, key=lambda p: p or "")
    journals = []
    for period in periods:
        lines_net = [(key, entry) for key, entry in groups.items() if key[0] == period and entry[0] != 0]
        if split:
            carried = -sum((entry[0] for _key, entry in lines_net), _ZERO)
            if carried:
                clearing = mapping.special("clearing", default_market)
                lines_net.append(
                    (
                        (period, clearing.account, clearing.dimensions, False),
                        [carried, {clearing.description}, {"clearing"}],
                    )
                )
        if split and not lines_net and period != payout_period and len(periods) > 1:
            continue  # a month whose lines cancel out (Payable to Amazon against its card charge)
        reference = f"{settlement.settlement_id}-{period}" if period else settlement.settlement_id
        lines = tuple(
            _journal_line(
                account, dims, net, descriptions, categories, currency, reference,
                conversion.converted
                if converted and conversion is not None and payout and account == mapping.account_of("bank")
                else None,
            )
            for (_p, account, dims, payout), (net, descriptions, categories) in sorted(
                lines_net, key=lambda item: (not item[0][3], item[0][1], item[0][2])
            )
        )  # fmt: skip
        journals.append(
            Journal(
                reference=reference,
                currency=currency,
                posting_date=_posting_date(period, payout_period, payout_day),
                description=_description(settlement, period),
                lines=lines,
                settlement_id=settlement.settlement_id,
                period=period,
            )
        )
    return journals


def _converted_payout(add, period, mapping, market, payout: Money, conversion) -> None:  # noqa: ANN001
    """The bank line of a converted payout and, where the ledger's booking rate is known, the
    realised FX difference: the bank is debited with what the converted amount is worth at the
    booking rate (in the journal's currency), the difference to total-amount is realised FX; the
    converted amount and Amazon's rate travel on the bank line (its memo and ``bank_amount``)."""
    total, currency = payout.amount, payout.currency
    exponent = Decimal(1).scaleb(-currency_exponent(currency))
    if conversion.booking_rate:
        at_booking = (conversion.converted.amount / conversion.booking_rate).quantize(exponent)
        how = "Amazon payout, converted"
    else:
        # No rate of the ledger's own: booked at Amazon's rate, so no realised FX is known; the
        # line says so and the ERP's revaluation of the bank account books the difference.
        at_booking = total
        how = "at Amazon's rate (no ledger rate)"
    bank = mapping.special("bank", market)
    # The figures first: an ERP with a short line text (M3's VTXT: 40 characters after the key)
    # keeps the converted amount and the rate.
    bank_currency = conversion.converted.currency
    memo = f"{conversion.converted.as_string()} {bank_currency} @{conversion.rate} {bank_currency}/{currency}: {how}"
    add(period, Resolution(bank.account, "bank", memo, bank.dimensions), -at_booking, payout=True)
    if at_booking != total:
        fx = mapping.special("fx", market)
        rate_text = f"booked at {conversion.booking_rate}, Amazon's rate {conversion.rate}"
        add(period, Resolution(fx.account, "fx", f"Realised FX on converted payout ({rate_text})", fx.dimensions),
            at_booking - total)  # fmt: skip


def _journal_line(
    account: str,
    dims: tuple[tuple[str, str], ...],
    net: Decimal,
    descriptions: set[str],
    categories: set[str],
    currency: str,
    reference: str,
    bank_amount: Money | None = None,
) -> JournalLine:
    zero = Money.zero(currency)
    amount = Money(abs(net), currency)
    return JournalLine(
        account=account,
        debit=amount if net < 0 else zero,
        credit=amount if net > 0 else zero,
        description="; ".join(sorted(descriptions)),
        reference=reference,
        dimensions=dims,
        category="+".join(sorted(categories)),
        bank_amount=bank_amount,
    )


def _period(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _posting_date(period: str | None, payout_period: str | None, payout_day: date) -> date:
    if period is None or period == payout_period:
        return payout_day
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, calendar.monthrange(year, month)[1])


def _description(settlement: Settlement, period: str | None) -> str:
    text = (
        f"Amazon settlement {settlement.settlement_id} "
        f"{settlement.start:%Y-%m-%d} to {settlement.end:%Y-%m-%d}"
    )
    if settlement.marketplace:
        text += f" {settlement.marketplace}"
    return f"{text}, period {period}" if period else text
