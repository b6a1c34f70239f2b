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
    payouts = [ln for ln in journal.lines if ln.category == "bank"]
    if settlement.total:
        (payout,) = payouts
        assert payout.debit - payout.credit == settlement.total
    else:
        assert payouts == []


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
