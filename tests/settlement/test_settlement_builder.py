"""The journal builder: signs, payout, reserve, modes, split by period, quarantine reasons."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ml_connector.model.journal import Journal
from ml_connector.settlement.errors import MixedCurrencies, QuarantineError, TotalMismatch, UnmappedKeys
from ml_connector.settlement.journal_builder import LinesReport, build_journals
from ml_connector.settlement.mapping import load_mapping
from ml_connector.settlement.reader import open_report

from .settlement_helpers import ORDER, line, settlement_for, v2_bytes

MAPPING = load_mapping()


def _by_account(journals: list[Journal]) -> dict[str, Decimal]:
    net: dict[str, Decimal] = defaultdict(Decimal)
    for journal in journals:
        for ln in journal.lines:
            net[ln.account] += ln.debit.amount - ln.credit.amount
    return {k: v for k, v in net.items() if v}


def test_signs_payout_and_reserve() -> None:
    result = build_journals(LinesReport(settlement_for(ORDER), ORDER), MAPPING)
    assert not result.quarantined, result.reason
    (journal,) = result.journals
    assert journal.balanced and journal.reference == "555" and journal.period is None
    assert journal.posting_date == date(2026, 3, 17)  # the deposit date
    lines = {ln.account: ln for ln in journal.lines}
    assert journal.lines[0].category == "bank"  # the payout first
    assert lines["1020"].debit.as_string() == "9.75"  # the total, a debit
    assert lines["4000"].credit.as_string() == "100.00"  # a sale: a credit
    assert lines["5100"].debit.as_string() == "12.00"  # commission 15.00 less 3.00 refunded
    assert lines["1295"].debit.as_string() == "10.00"  # reserve 60 held, 50 released: balance sheet
    assert "2200" not in lines  # tax collected and withheld by the marketplace net to zero
    assert lines["4000"].dimension_map == {"company": "100", "division": "US"}
    assert lines["4000"].reference == "555"


def test_lines_aggregate_per_account_and_dimensions() -> None:
    lines = [
        line("Order", "ItemPrice", "Principal", "10.00", market="Amazon.com"),
        line("Order", "ItemPrice", "Principal", "20.00", market="Amazon.com"),
        line("Order", "ItemPrice", "Principal", "5.00", market="Amazon.ca"),
    ]
    (journal,) = build_journals(LinesReport(settlement_for(lines), lines), MAPPING).journals
    sales = [
        (ln.credit.as_string(), ln.dimension_map["division"]) for ln in journal.lines if ln.account == "4000"
    ]
    assert sorted(sales) == [("30.00", "US"), ("5.00", "CA")]


def test_invoice_mode_keeps_the_totals() -> None:
    summary = build_journals(LinesReport(settlement_for(ORDER), ORDER), MAPPING).journals
    invoice = build_journals(LinesReport(settlement_for(ORDER), ORDER), MAPPING, mode="invoice").journals
    assert invoice[0].balanced
    s, i = _by_account(summary), _by_account(invoice)
    assert "4000" not in i  # product sales were the invoice's revenue: cleared, not booked again
    # the invoice held the item price; the settlement's Principal clears that receivable, and
    # shipping, promotions and tax post on their own accounts as in summary mode
    assert i["1210"] == s["4000"]
    assert i["4010"] == s["4010"] and i["4050"] == s["4050"] and i.get("2200") == s.get("2200")
    assert i["4060"] == s["4060"]  # refunds as usual


def _spanning() -> tuple[list, object]:
    lines = [
        line("Order", "ItemPrice", "Principal", "100.00", day=date(2026, 3, 28)),
        line("Order", "ItemFees", "Commission", "-15.00", day=date(2026, 3, 30)),
        line("Order", "ItemPrice", "Principal", "40.00", day=date(2026, 4, 2)),
        line("other-transaction", "other-transaction", "Subscription Fee", "-39.99", day=date(2026, 4, 1)),
    ]
    settlement = settlement_for(
        lines,
        start=datetime(2026, 3, 25, tzinfo=UTC),
        end=datetime(2026, 4, 8, tzinfo=UTC),
        deposit=datetime(2026, 4, 10, tzinfo=UTC),
    )
    return lines, settlement


def test_split_by_period() -> None:
    lines, settlement = _spanning()
    whole = build_journals(LinesReport(settlement, lines), MAPPING).journals
    split = build_journals(LinesReport(settlement, lines), MAPPING, split_by_period=True).journals
    assert [j.reference for j in split] == ["555-2026-03", "555-2026-04"]
    assert [j.period for j in split] == ["2026-03", "2026-04"]
    assert all(j.balanced for j in split)
    assert split[0].posting_date == date(2026, 3, 31) and split[1].posting_date == date(2026, 4, 10)
    march = {ln.account: ln for ln in split[0].lines}
    assert "1020" not in march  # the payout lands in April, the deposit's month
    assert march["1290"].debit.as_string() == "85.00"  # carried through Amazon clearing
    assert _by_account(split) == _by_account(whole)


def test_mixed_currencies_are_quarantined() -> None:
    lines = [*ORDER, line("Order", "ItemPrice", "Principal", "7.00", currency="CAD")]
    result = build_journals(LinesReport(settlement_for(ORDER), lines), MAPPING)
    assert result.quarantined and result.journals == []
    (error,) = result.errors
    assert isinstance(error, MixedCurrencies)
    assert (
        "settlement 555 is in USD, but the file also has 1 line(s) in CAD totalling 7.00 CAD (lines 13)"
        in str(error)
    )


def test_mixed_currencies_from_a_file() -> None:
    data = v2_bytes(settlement_for(ORDER), ORDER)
    rows = data.decode().split("\n")
    cells = rows[3].split("\t")
    cells[5] = "CAD"
    rows[3] = "\t".join(cells)
    result = build_journals(open_report("\n".join(rows).encode()), MAPPING)
    assert [type(e) for e in result.errors] == [MixedCurrencies]
    assert "1 line(s) in CAD totalling 5.99 CAD (lines 4)" in str(result.errors[0])


def test_total_mismatch_names_the_numbers() -> None:
    result = build_journals(LinesReport(settlement_for(ORDER, total="20.00"), ORDER), MAPPING)
    (error,) = result.errors
    assert isinstance(error, TotalMismatch)
    assert str(error) == (
        "settlement 555: the 12 lines sum to 9.75 USD, but total-amount is 20.00 USD; difference -10.25 USD"
    )
    with pytest.raises(TotalMismatch):
        result.raise_if_quarantined()


def test_unmapped_keys_are_all_listed_with_their_rule() -> None:
    lines = [
        *ORDER,
        line("Mystery", "Thing", "One", "-1.00"),
        line("Mystery", "Thing", "One", "-2.00"),
        line("Mystery", "Other", "Two", "3.00"),
    ]
    result = build_journals(LinesReport(settlement_for(lines), lines), MAPPING)
    assert [type(e) for e in result.errors] == [UnmappedKeys]
    assert [(u.key, u.lines, u.amount.as_string(), u.first_line) for u in result.unmapped] == [
        (("Mystery", "Thing", "One"), 2, "-3.00", 13),
        (("Mystery", "Other", "Two"), 1, "3.00", 15),
    ]
    assert "2 key(s) have no account" in str(result.errors[0])
    rule = result.unmapped[0].suggested_rule
    assert 'transaction_type = "Mystery"\namount_type = "Thing"\namount_description = "One"' in rule
    assert MAPPING.resolve(("Mystery", "Thing", "One")) is None


def test_every_reason_at_once() -> None:
    lines = [*ORDER, line("Mystery", "Thing", "One", "-1.00")]
    result = build_journals(LinesReport(settlement_for(lines, total="0"), lines), MAPPING)
    assert {type(e) for e in result.errors} == {UnmappedKeys, TotalMismatch}
    with pytest.raises(QuarantineError):
        result.raise_if_quarantined()


def test_a_bad_row_while_streaming_quarantines() -> None:
    data = v2_bytes(settlement_for(ORDER), ORDER).replace(b"\t-15.00\t", b"\t-15.0x\t")
    result = build_journals(open_report(data), MAPPING)
    assert result.quarantined and "line 7" in (result.reason or "")


def test_empty_settlement_with_a_total_says_truncated() -> None:
    result = build_journals(LinesReport(settlement_for([], total="5.00"), []), MAPPING)
    assert "the file has no lines: it may be truncated" in (result.reason or "")


def test_zero_settlement_without_lines_posts_nothing_but_balances() -> None:
    result = build_journals(LinesReport(settlement_for([], total="0"), []), MAPPING)
    assert not result.quarantined and result.journals[0].lines == ()


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        build_journals(LinesReport(settlement_for(ORDER), ORDER), MAPPING, mode="cash")  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [5, 3000])  # within the look-ahead window, and beyond it
def test_a_file_cut_at_a_row_boundary_says_it_may_be_truncated(rows: int) -> None:
    lines = [line("Order", "ItemPrice", "Principal", "1.00")] * rows
    data = v2_bytes(settlement_for(lines), lines)
    cut = data[: data.rfind(b"\n", 0, len(data) - 1)]  # the last row gone, no final line break
    result = build_journals(open_report(cut), MAPPING)
    (error,) = result.errors
    assert isinstance(error, TotalMismatch)
    assert f"the {rows - 1} lines sum to" in str(error) and "ends without a line break" in str(error)
    assert not build_journals(open_report(data), MAPPING).quarantined
