"""Every real sample file: lines sum to total-amount, journals balance, nothing is unmapped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

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
    payout = [ln for j in result.journals for ln in j.lines if ln.category == "bank"]
    assert len(payout) == 1
    assert (payout[0].debit - payout[0].credit) == report.settlement.total


def test_negative_settlement_credits_the_bank() -> None:
    result = build_journals(open_report(LOCAL_SAMPLES / "settlement_v1_23874396421.txt"), MAPPING)
    (payout,) = [ln for ln in result.journals[0].lines if ln.category == "bank"]
    assert payout.credit.as_string() == "321.69" and not payout.debit


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
