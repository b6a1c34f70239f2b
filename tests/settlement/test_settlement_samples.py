"""Every real sample file: lines sum to total-amount, journals balance, nothing is unmapped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.settlement.balance import amazon_balance
from ml_connector.settlement.journal_builder import build_journals
from ml_connector.settlement.mapping import load_mapping
from ml_connector.settlement.reader import open_report

from .settlement_helpers import LOCAL_SAMPLES, sample_files, sample_ids

MAPPING = load_mapping()


def test_the_local_copies_are_there() -> None:
    assert len(list(LOCAL_SAMPLES.glob("settlement_*.txt"))) == 4


@pytest.mark.parametrize("path", sample_files(), ids=sample_ids())
def test_lines_sum_to_the_total(path: Path) -> None:
    report = open_report(path)
    assert report.format == "v1"
    total = sum((ln.amount.amount for ln in report.lines()), Decimal(0))
    assert total == report.settlement.total.amount
    assert report.settlement.currency == "CAD"


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("mode", ["summary", "invoice"])
@pytest.mark.parametrize("path", sample_files(), ids=sample_ids())
def test_journals_balance_and_nothing_is_unmapped(path: Path, mode: str, split: bool) -> None:
    report = open_report(path)
    result = build_journals(report, MAPPING, mode=mode, split_by_period=split)  # type: ignore[arg-type]
    assert not result.quarantined, result.reason
    assert result.unmapped == []
    assert result.lines_total == report.settlement.total
    assert result.journals and all(j.balanced for j in result.journals)
    sid = report.settlement.settlement_id
    for journal in result.journals:
        assert journal.settlement_id == sid
        assert journal.reference == (f"{sid}-{journal.period}" if split else sid)
    payout = [ln for j in result.journals for ln in j.lines if ln.account == "1020"]
    if report.settlement.total.amount > 0:
        assert len(payout) == 1 and payout[0].debit == report.settlement.total
    else:  # a negative settlement paid nothing: no bank line at all
        assert payout == []
    for journal in result.journals:  # every tax on a tax account, nothing unmapped
        for ln in journal.lines:
            if "tax" in ln.description.lower():
                assert ln.account in ("1310", "1320", "1330", "2200"), ln


NEGATIVE_PAIR = ("settlement_v1_23874396421.txt", "settlement_v1_23874397121.txt")


@pytest.mark.parametrize("split", [False, True])
def test_the_real_negative_pair_leaves_the_bank_as_the_bank_is(split: bool) -> None:
    """23874396421 ends at -321.69 CAD (nothing paid); 23874397121 opens with Payable to Amazon
    -321.69 and the card charge of 321.69, and ends at -62.31. No money reached the bank account
    in either: the bank line is absent both times, and the Amazon balance account says what the
    seller owes Amazon after each (once the card statement's charges are booked against it)."""
    ledger = Decimal(0)
    bank = Decimal(0)
    closing = []
    for name in NEGATIVE_PAIR:
        result = build_journals(open_report(LOCAL_SAMPLES / name), MAPPING, split_by_period=split)
        assert not result.quarantined, result.reason
        lines = [ln for j in result.journals for ln in j.lines]
        bank += sum((ln.net.amount for ln in lines if ln.account == "1020"), Decimal(0))
        assert bank == 0  # the bank account matches the bank: no deposit, no withdrawal
        balance = amazon_balance(result, MAPPING)
        ledger += balance.ledger_movement.amount + balance.charges.amount
        assert ledger == balance.closing.amount
        closing.append(balance.closing.as_string())
    assert closing == ["-321.69", "-62.31"]
    first = build_journals(open_report(LOCAL_SAMPLES / NEGATIVE_PAIR[0]), MAPPING)
    owed = [ln for ln in first.journals[0].lines if ln.category == "bank"]  # the payout line
    assert [(ln.account, ln.credit.as_string()) for ln in owed] == [("1280", "321.69")]
    second = build_journals(open_report(LOCAL_SAMPLES / NEGATIVE_PAIR[1]), MAPPING)
    by_account = {ln.account: ln for ln in second.journals[0].lines}
    # Payable to Amazon (-321.69) and its card charge (+321.69) cancel on the Amazon balance
    assert by_account["1280"].credit.as_string() == "62.31"
    assert by_account["1310"].debit.as_string() == "0.14"  # the GST/HST on the ads: input tax
    assert by_account["5130"].debit.as_string() == "1.16"


def test_a_fee_only_settlement_takes_the_marketplace_it_is_given() -> None:
    path = LOCAL_SAMPLES / NEGATIVE_PAIR[0]
    assert open_report(path).settlement.marketplace is None  # only account-level rows
    result = build_journals(open_report(path), MAPPING, marketplace="amazon.ca")
    assert {ln.dimension_map.get("division") for j in result.journals for ln in j.lines} == {"CA"}


def test_fee_tax_expense_books_the_ads_tax_with_the_ads() -> None:
    result = build_journals(open_report(LOCAL_SAMPLES / NEGATIVE_PAIR[1]), MAPPING.with_fee_tax("expense"))
    by_account = {ln.account: ln for ln in result.journals[0].lines}
    assert "1310" not in by_account and by_account["5130"].debit.as_string() == "1.30"


def test_v1_with_33_columns_reads_by_header_name() -> None:
    report = open_report(LOCAL_SAMPLES / "settlement_v1_23874396421.txt")
    assert "promotion-id" not in report.columns
    assert [ln.amount_description for ln in report.lines()] == [
        "Inbound Transportation Fee", "Subscription Fee", "Successful charge",
    ]  # fmt: skip


def test_v1_refund_and_advertising_tax_become_v2_keys() -> None:
    lines = list(open_report(LOCAL_SAMPLES / "settlement_v1_23874397121.txt").lines())
    keys = {ln.key for ln in lines}
    assert ("Refund", "ItemPrice", "Principal") in keys
    assert ("ServiceFee", "OtherFees", "TaxAmount") in keys
    refund = next(ln for ln in lines if ln.key == ("Refund", "ItemPrice", "Principal"))
    assert refund.adjustment_id == "amzn1:crow:0UcGz5LNTCm+rGIQEkAv5g"
    assert refund.amount.as_string() == "-60.00"
    assert str(refund.posted_date) == "2025-08-14"
    # V1's quantity-only row is not a line; its quantity goes to the item's Principal line
    principal = next(ln for ln in lines if ln.key == ("Order", "ItemPrice", "Principal"))
    assert (principal.quantity, principal.sku, principal.order_item_code) == (
        1,
        "SALTT15-ALLT",
        "135844999381281",
    )
    assert all(ln.quantity is None for ln in lines if ln is not principal)


def test_invoice_mode_clears_the_receivable_instead_of_revenue() -> None:
    result = build_journals(
        open_report(LOCAL_SAMPLES / "settlement_v1_23874397121.txt"), MAPPING, mode="invoice"
    )
    accounts = {ln.account: ln for ln in result.journals[0].lines}
    assert "4000" not in accounts  # product sales were the invoices' revenue: not counted again
    assert accounts["1210"].credit.as_string() == "35.00"  # the invoiced item price (Principal)
    assert accounts["4010"].credit == accounts["4050"].debit  # 6.99 shipping, 6.99 shipping promotion
    assert accounts["4060"].debit.as_string() == "60.00"  # the refund posts as usual
