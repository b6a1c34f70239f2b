"""Properties of the engine over generated settlements (hypothesis)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.model.journal import Journal
from ml_connector.model.money import Money, currency_exponent
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.balance import amazon_balance
from ml_connector.settlement.journal_builder import LinesReport, build_journals
from ml_connector.settlement.mapping import load_mapping
from ml_connector.settlement.preview import result_to_dict
from ml_connector.settlement.reader import open_report

from .settlement_helpers import v2_bytes

MAPPING = load_mapping()
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    ("Order", "ItemPrice", "Principal"), ("Order", "ItemPrice", "Shipping"), ("Order", "ItemPrice", "Tax"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal"), ("Order", "Promotion", "Shipping"),
    ("Order", "ItemFees", "Commission"), ("Order", "ItemFees", "FBAPerUnitFulfillmentFee"),
    ("Refund", "ItemPrice", "Principal"), ("Refund", "ItemFees", "RefundCommission"),
    ("other-transaction", "other-transaction", "Storage Fee"),
    ("other-transaction", "other-transaction", "Previous Reserve Amount Balance"),
    ("other-transaction", "other-transaction", "Current Reserve Amount"),
    ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount"),
]  # fmt: skip
MARKETS = ["Amazon.com", "Amazon.ca", "Amazon.de", None]
LOCALE_CURRENCY = {
    "en_US": "USD",
    "en_CA": "CAD",
    "en_GB": "GBP",
    "de_DE": "EUR",
    "fr_FR": "EUR",
    "ja_JP": "JPY",
}


@st.composite
def settlements(draw: st.DrawFn, currency: str = "USD") -> tuple[Settlement, list[SettlementLine]]:
    start = datetime(2024, 1, 1, 7, 49, 55, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 1000)))
    days = draw(st.integers(7, 20))
    end = start + timedelta(days=days)
    exp = currency_exponent(currency)
    cents = st.integers(-500_000, 500_000)
    rows = draw(
        st.lists(
            st.tuples(st.sampled_from(KEYS), cents, st.integers(0, days), st.sampled_from(MARKETS)),
            max_size=40,
        )
    )
    lines = [
        SettlementLine(
            *key,
            Money(Decimal(c).scaleb(-exp), currency),
            (start + timedelta(days=d)).date(),
            order_id=f"111-{i}",
            marketplace_name=market,
            sku=f"S{i % 3}",
        )  # fmt: skip
        for i, (key, c, d, market) in enumerate(rows)
    ]
    total = sum((ln.amount.amount for ln in lines), Decimal(0))
    deposit = end + timedelta(days=draw(st.integers(0, 3)))
    market = next(
        (ln.marketplace_name for ln in lines if ln.marketplace_name), None
    )  # as the reader finds it
    return Settlement("4242", start, end, deposit, Money(total, currency), marketplace=market), lines


def _net_by_account(journals: list[Journal]) -> dict[tuple, Decimal]:
    net: dict[tuple, Decimal] = defaultdict(Decimal)
    for journal in journals:
        for ln in journal.lines:
            net[(ln.account, ln.dimensions)] += ln.debit.amount - ln.credit.amount
    return {k: v for k, v in net.items() if v}


@SETTINGS
@given(settlements(), st.sampled_from(["summary", "invoice"]))
def test_balanced_and_the_payout_equals_the_total(data, mode) -> None:  # noqa: ANN001
    settlement, lines = data
    result = build_journals(LinesReport(settlement, lines), MAPPING, mode=mode)
    assert not result.quarantined, result.reason
    (journal,) = result.journals
    assert journal.balanced
    # the payout line (category "bank"): on the bank when Amazon paid, on the Amazon balance when owed
    payouts = [ln for ln in journal.lines if ln.category == "bank" and ln.account == "1020"]
    owed = [ln for ln in journal.lines if ln.category == "bank" and ln.account == "1280"]
    if settlement.total.amount > 0:
        (payout,) = payouts
        assert payout.debit == settlement.total and not owed
    elif settlement.total.amount < 0:  # nothing reached the bank: the Amazon balance owes it
        (line,) = owed
        assert payouts == [] and line.credit == -settlement.total and line.account == "1280"
    else:
        assert payouts == [] and owed == []


@SETTINGS
@given(settlements(), st.sampled_from(["summary", "invoice"]))
def test_split_journals_add_up_to_the_unsplit_one(data, mode) -> None:  # noqa: ANN001
    settlement, lines = data
    whole = build_journals(LinesReport(settlement, lines), MAPPING, mode=mode).journals
    split = build_journals(LinesReport(settlement, lines), MAPPING, mode=mode, split_by_period=True).journals
    assert all(j.balanced for j in split)
    assert len({j.reference for j in split}) == len(split)
    assert _net_by_account(split) == _net_by_account(whole)


@SETTINGS
@given(settlements(), st.integers(0, 2**32), st.booleans())
def test_row_order_does_not_matter(data, seed, split) -> None:  # noqa: ANN001
    settlement, lines = data
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    a = build_journals(LinesReport(settlement, lines), MAPPING, split_by_period=split)
    b = build_journals(LinesReport(settlement, shuffled), MAPPING, split_by_period=split)
    assert result_to_dict(a)["journals"] == result_to_dict(b)["journals"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(LOCALE_CURRENCY)), st.booleans())
def test_locale_files_give_the_same_journal_as_their_plain_twin(data, locale, split) -> None:  # noqa: ANN001
    settlement, lines = data.draw(settlements(LOCALE_CURRENCY[locale]))
    plain = build_journals(
        open_report(v2_bytes(settlement, lines, locale="iso")), MAPPING, split_by_period=split
    )
    local = build_journals(
        open_report(v2_bytes(settlement, lines, locale=locale)), MAPPING, split_by_period=split
    )
    in_memory = build_journals(LinesReport(settlement, lines), MAPPING, split_by_period=split)
    assert not local.quarantined, local.reason
    expected = result_to_dict(plain)
    assert result_to_dict(local) == expected
    assert result_to_dict(in_memory)["journals"] == expected["journals"]


ACTIVITY = [
    ("Order", "ItemPrice", "Principal"), ("Order", "ItemFees", "Commission"),
    ("other-transaction", "other-transaction", "Subscription Fee"),
    ("Inbound Transportation Fee", "other-transaction", "Inbound Transportation Fee"),
    ("ServiceFee", "OtherFees", "TaxAmount"),
]  # fmt: skip


@st.composite
def chains(draw: st.DrawFn) -> list[tuple[Settlement, list[SettlementLine]]]:
    """Consecutive settlements of one seller: a negative total is carried into the next one as
    Payable to Amazon, and Amazon may (or may not yet) charge the seller's card for it."""
    start = datetime(2025, 1, 3, 22, 7, 18, tzinfo=UTC)
    carried = Decimal(0)
    out = []
    for n in range(draw(st.integers(1, 6))):
        end = start + timedelta(days=14)
        days = st.integers(0, 13)
        lines = [
            SettlementLine(*key, Money(Decimal(c).scaleb(-2), "CAD"), (start + timedelta(days=d)).date())
            for key, c, d in draw(
                st.lists(st.tuples(st.sampled_from(ACTIVITY), st.integers(-90_000, 90_000), days), max_size=8)
            )
        ]
        if carried < 0:
            lines.append(SettlementLine("Payable to Amazon", "other-transaction", "Payable to Amazon",
                                        Money(carried, "CAD"), start.date()))  # fmt: skip
            if draw(st.booleans()):  # charged to the card soon after the previous settlement ended
                lines.append(SettlementLine("Successful charge", "other-transaction", "Successful charge",
                                            Money(-carried, "CAD"), start.date()))  # fmt: skip
        total = sum((ln.amount.amount for ln in lines), Decimal(0))
        out.append(
            (Settlement(str(9000 + n), start, end, end + timedelta(days=2), Money(total, "CAD")), lines)
        )
        carried = min(total, Decimal(0))
        start = end
    return out


@SETTINGS
@given(chains(), st.booleans())
def test_the_bank_line_is_what_reached_the_bank_and_the_amazon_balance_carries_the_rest(chain, split) -> None:  # noqa: ANN001
    ledger_balance = Decimal(0)  # the ledger's Amazon balance account, once the card statements are booked
    for settlement, lines in chain:
        result = build_journals(LinesReport(settlement, lines), MAPPING, split_by_period=split)
        assert not result.quarantined, result.reason
        assert all(j.balanced for j in result.journals)
        bank = sum(
            (ln.net.amount for j in result.journals for ln in j.lines if ln.account == "1020"), Decimal(0)
        )
        assert bank == max(settlement.total.amount, Decimal(0))
        assert all(
            ln.debit for j in result.journals for ln in j.lines if ln.account == "1020"
        )  # never a credit
        balance = amazon_balance(result, MAPPING)
        ledger_balance += balance.ledger_movement.amount + balance.charges.amount  # + the card statement
        assert ledger_balance == balance.closing.amount  # what Amazon says the seller owes it
        if split:
            whole = build_journals(LinesReport(settlement, lines), MAPPING).journals
            assert _net_by_account(result.journals) == _net_by_account(whole)


@SETTINGS
@given(
    settlements(currency="EUR"),
    st.sampled_from(["GBP", "JPY", "USD"]),
    st.decimals("0.01", "200", places=4),
    st.one_of(st.none(), st.decimals("0.01", "200", places=6)),
    st.sampled_from(["summary", "invoice"]),
    st.booleans(),
)
def test_a_converted_payout_still_balances_to_the_cent_with_its_fx_line(  # noqa: PLR0913
    data, bank, amazon_rate, booking_rate, mode, split
) -> None:  # noqa: ANN001
    """Whatever Amazon's rate and the ledger's booking rate (or none): every journal balances to the
    cent, the bank line carries the converted amount, and bank + realised FX = total-amount."""
    from ml_connector.settlement.journal_builder import PayoutConversion

    settlement, lines = data
    total = settlement.total
    converted = (total.amount * amazon_rate).quantize(Decimal(1).scaleb(-currency_exponent(bank)))
    if total.amount <= 0 or converted <= 0:
        return
    conversion = PayoutConversion(total, Money(converted, bank), booking_rate)
    result = build_journals(
        LinesReport(settlement, lines), MAPPING, mode=mode, split_by_period=split, conversion=conversion
    )
    assert not result.quarantined
    assert all(j.balanced for j in result.journals)
    payout = [ln for j in result.journals for ln in j.lines if ln.category == "bank"]
    fx = [ln for j in result.journals for ln in j.lines if ln.category == "fx"]
    (bank_line,) = payout
    assert bank_line.bank_amount == Money(converted, bank)
    fx_net = sum((ln.debit.amount - ln.credit.amount for ln in fx), Decimal(0))
    assert bank_line.debit.amount + fx_net == total.amount  # to the cent
    expected = (converted / booking_rate).quantize(Decimal("0.01")) if booking_rate else total.amount
    assert bank_line.debit.amount == expected
    assert len(fx) == (1 if expected != total.amount else 0)
