"""A payout Amazon converted to the bank account's currency: the journal stays in the marketplace
currency, the bank line carries the converted amount and Amazon's rate, and the difference at the
ledger's booking rate is realised FX."""

from __future__ import annotations

from decimal import Decimal

from ml_connector.model.money import Money
from ml_connector.settlement.journal_builder import LinesReport, PayoutConversion, build_journals
from ml_connector.settlement.mapping import load_mapping

from .settlement_helpers import line, settlement_for

MAPPING = load_mapping()
LINES = [
    line("Order", "ItemPrice", "Principal", "1000.00", "EUR", market="Amazon.de"),
    line("Order", "ItemFees", "Commission", "-150.00", "EUR", market="Amazon.de"),
]


def _build(conversion: PayoutConversion | None, split: bool = False):  # noqa: ANN202
    settlement = settlement_for(LINES, currency="EUR")
    return build_journals(
        LinesReport(settlement, LINES), MAPPING, conversion=conversion, split_by_period=split
    )


def test_a_converted_payout_books_the_difference_as_realised_fx() -> None:
    conversion = PayoutConversion(Money.of("850.00", "EUR"), Money.of("720.00", "GBP"), Decimal("0.86"))
    (journal,) = _build(conversion).journals
    assert journal.currency == "EUR" and journal.balanced
    by_account = {ln.account: ln for ln in journal.lines}
    bank = by_account["1020"]
    assert bank.bank_amount == Money.of("720.00", "GBP")  # what reached the bank, in its currency
    assert bank.debit.as_string() == "837.21"  # 720.00 GBP at the ledger's 0.86 GBP/EUR
    assert bank.description.startswith("720.00 GBP @0.847059 GBP/EUR")  # Amazon's rate, shown
    assert by_account["7900"].debit.as_string() == "12.79"  # realised FX loss: 850.00 - 837.21
    assert "0.86" in by_account["7900"].description


def test_without_a_booking_rate_the_bank_line_is_the_original_amount_with_the_converted_memo() -> None:
    conversion = PayoutConversion(Money.of("850.00", "EUR"), Money.of("720.00", "GBP"))
    (journal,) = _build(conversion).journals
    bank = next(ln for ln in journal.lines if ln.account == "1020")
    assert bank.debit.as_string() == "850.00" and bank.bank_amount == Money.of("720.00", "GBP")
    assert "7900" not in {ln.account for ln in journal.lines}


def test_a_conversion_in_the_same_currency_changes_nothing() -> None:
    same = _build(PayoutConversion(Money.of("850.00", "EUR"), Money.of("850.00", "EUR")))
    assert same.journals == _build(None).journals


def test_split_journals_with_a_converted_payout_still_add_up() -> None:
    conversion = PayoutConversion(Money.of("850.00", "EUR"), Money.of("720.00", "GBP"), Decimal("0.86"))
    assert all(j.balanced for j in _build(conversion, split=True).journals)
