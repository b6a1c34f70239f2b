"""The reader: both formats, by header name, every tolerance the issue lists, streaming."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from ml_connector.settlement.errors import (
    AmbiguousFormat,
    BadValue,
    NotASettlementReport,
    QuarantineError,
    TruncatedReport,
)
from ml_connector.settlement.reader import open_report

from .settlement_helpers import ORDER, SMALL_SAMPLE, line, settlement_for, v2_bytes


def _plain() -> bytes:
    return v2_bytes(settlement_for(ORDER), ORDER, locale="iso")


def _summary(data: bytes) -> tuple[str, str, int]:
    report = open_report(data)
    lines = list(report.lines())
    return report.settlement.total.as_string(), report.format, len(lines)


def test_v2_reads_every_line() -> None:
    report = open_report(_plain())
    assert report.format == "v2"
    assert report.report_type == "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
    lines = list(report.lines())
    assert [ln.key for ln in lines] == [ln.key for ln in ORDER]
    assert [ln.amount for ln in lines] == [ln.amount for ln in ORDER]
    assert lines[0].quantity == 1 and lines[0].sku == "A" and lines[0].order_id == "111-1"
    assert lines[0].line_number == 3
    assert report.settlement.marketplace == "Amazon.com"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: gzip.compress(b), id="gzip"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b.replace(b"\n", b"\n\n") + b"\n\t\t\n", id="blank-lines"),
        pytest.param(lambda b: b.replace(b"\n", b"\t\t\n"), id="trailing-tabs"),
        pytest.param(
            lambda b: b.replace(b"\t\n", b"\n").replace(b"\t\n", b"\n"), id="stripped-trailing-cells"
        ),
        pytest.param(lambda b: b.rstrip(b"\n"), id="no-final-newline"),
    ],
)
def test_tolerances(mangle) -> None:  # noqa: ANN001
    assert _summary(mangle(_plain())) == _summary(_plain())


def test_windows_1252_without_charset() -> None:
    lines = [*ORDER, line("Order", "ItemPrice", "Principal", "1234.50")]
    settlement = settlement_for(lines)
    data = v2_bytes(settlement, lines, locale="fr_FR", encoding="cp1252")
    assert b"\xa0" in data  # the French group separator, not valid UTF-8 on its own
    lines = list(open_report(data).lines())
    assert sum(ln.amount.amount for ln in lines) == settlement.total.amount
    sku = v2_bytes(
        settlement, [ORDER[0].__class__(**{**_fields(ORDER[0]), "sku": "CAFÉ-1"})], encoding="cp1252"
    )
    assert next(open_report(sku).lines()).sku == "CAFÉ-1"


def _fields(obj: object) -> dict:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def test_columns_by_name_not_position() -> None:
    rows = [r.split("\t") for r in _plain().decode().splitlines()]
    order = list(reversed(range(len(rows[0]))))
    shuffled = "\n".join("\t".join(r[i] for i in order) for r in rows).encode()
    assert [(ln.key, ln.amount) for ln in open_report(shuffled).lines()] == [
        (ln.key, ln.amount) for ln in open_report(_plain()).lines()
    ]


def test_extra_promotion_id_column_is_ignored() -> None:
    rows = _plain().decode().splitlines()
    data = "\n".join([rows[0] + "\tpromotion-id"] + [r + "\tPROMO" for r in rows[1:]]).encode()
    assert _summary(data) == _summary(_plain())


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1141.18", "1141.18"), ("1141,18", "1141.18"), ("-1.234,56", "-1234.56"), ("1,234.56", "1234.56"),
     ("-1\u00a0234,56", "-1234.56"), ("32.09    ", "32.09")],
)  # fmt: skip
def test_amount_forms(text: str, amount: str) -> None:
    data = _one_line_file(text, text)
    assert next(open_report(data).lines()).amount.amount == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "day"),
    [("14.03.2023 07:49:55 UTC", date(2023, 3, 14)), ("2023-03-14T07:49:55+00:00", date(2023, 3, 14)),
     ("2023-03-14 07:49:55 UTC", date(2023, 3, 14)), ("03/14/2023", date(2023, 3, 14)),
     ("14/03/2023", date(2023, 3, 14)), ("2023/03/14", date(2023, 3, 14)), ("14/03/23", date(2023, 3, 14)),
     ("2023-03-14T23:30:00-07:00", date(2023, 3, 15))],
)  # fmt: skip
def test_date_forms(text: str, day: date) -> None:
    data = _one_line_file("10.00", "10.00", posted=text)
    assert next(open_report(data).lines()).posted_date == day


def _one_line_file(total: str, amount: str, posted: str = "2023-03-14", start: str = "2023-03-01 00:00:00 UTC",
                   end: str = "2023-03-15 00:00:00 UTC") -> bytes:  # fmt: skip
    header = (
        "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\tcurrency\t"
    )
    header += "transaction-type\tamount-type\tamount-description\tamount\tposted-date"
    summary = f"1\t{start}\t{end}\t\t{total}\tEUR\t\t\t\t\t"
    detail = f"1\t\t\t\t\t\tOrder\tItemPrice\tPrincipal\t{amount}\t{posted}"
    return f"{header}\n{summary}\n{detail}\n".encode()


def test_ambiguous_number_format_fails_clearly() -> None:
    with pytest.raises(AmbiguousFormat, match=r"'1\.234' is 1\.234 with a decimal point but 1234"):
        list(open_report(_one_line_file("1.234", "1.234")).lines())


def test_number_format_decided_by_another_value() -> None:
    data = _one_line_file("1.234,50", "1.234")  # the total shows the decimal comma
    assert next(open_report(data).lines()).amount.amount == Decimal(1234)


def test_mixed_number_formats_fail() -> None:
    data = _one_line_file("1,234.50", "1234,50")
    with pytest.raises(AmbiguousFormat, match="mixes number formats"):
        list(open_report(data).lines())


def test_ambiguous_slashed_date_fails_without_evidence() -> None:
    data = _one_line_file("10.00", "10.00", posted="03/04/2023", start="2023-03-01", end="2023-05-01")
    with pytest.raises(AmbiguousFormat, match="day/month or month/day"):
        list(open_report(data).lines())


def test_slashed_date_decided_by_the_settlement_period() -> None:
    data = _one_line_file("10.00", "10.00", posted="03/04/2023", start="2023-03-01", end="2023-03-14")
    assert next(open_report(data).lines()).posted_date == date(2023, 3, 4)


def test_slashed_summary_dates_decided_by_their_order() -> None:
    data = _one_line_file("10.00", "10.00", posted="2023-03-05", start="03/01/2023", end="03/12/2023")
    report = open_report(data)
    assert (report.settlement.start.date(), report.settlement.end.date()) == (
        date(2023, 3, 1),
        date(2023, 3, 12),
    )


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", NotASettlementReport, "empty"),
        (b"hello\tworld\n1\t2\n", NotASettlementReport, "no settlement-id"),
        (b"settlement-id\ttotal-amount\n1\t2\n", NotASettlementReport, "missing column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", NotASettlementReport, "not a settlement report"),
        (None, TruncatedReport, "summary row"),
        (b"", NotASettlementReport, "empty"),
    ],
)
def test_not_a_settlement_report(data: bytes | None, error: type, words: str) -> None:
    if data is None:
        data = _plain().split(b"\n", 1)[0] + b"\n"
    with pytest.raises(error, match=words):
        open_report(data)


def test_truncated_plain_file() -> None:
    data = _plain()
    cut = data[: data.rfind(b"\t", 0, len(data) - 20)]  # mid-way through the last row
    with pytest.raises(TruncatedReport, match=r"line 14 is cut short"):
        list(open_report(cut).lines())


def test_truncated_gzip_file() -> None:
    data = gzip.compress(_plain() * 1)
    with pytest.raises(TruncatedReport, match="ends early"):
        list(open_report(data[: len(data) // 2]).lines())


def test_bad_values_name_the_line() -> None:
    data = _plain().replace(b"\t-15.00\t", b"\tabc\t")
    with pytest.raises(BadValue, match=r"line 7: amount 'abc' is not an amount"):
        list(open_report(data).lines())
    with pytest.raises(QuarantineError, match="not a date"):
        list(open_report(_one_line_file("1.00", "1.00", posted="yesterday")).lines())


def test_two_settlements_in_one_file_are_refused() -> None:
    data = _plain().replace(b"\n555\t\t\t\t\t\tRefund", b"\n556\t\t\t\t\t\tRefund", 1)
    with pytest.raises(NotASettlementReport, match="556"):
        list(open_report(data).lines())


def test_a_stream_is_read_once_a_path_many_times() -> None:
    stream_report = open_report(io.BytesIO(_plain()))
    assert len(list(stream_report.lines())) == len(ORDER)
    with pytest.raises(RuntimeError, match="only once"):
        list(stream_report.lines())
    path_report = open_report(SMALL_SAMPLE)
    assert list(path_report.lines()) == list(path_report.lines())


class _Endless(io.RawIOBase):
    """A generated V2 file of ``rows`` lines that never exists in memory as a whole."""

    def __init__(self, rows: int) -> None:
        self._chunks = self._generate(rows)
        self._buffer = b""

    def _generate(self, rows: int) -> Iterator[bytes]:
        header, summary, detail = _one_line_file(f"{rows * 10}.00", "10.00").split(b"\n")[:3]
        yield header + b"\n" + summary + b"\n"
        for _ in range(rows // 1000):
            yield (detail + b"\n") * 1000

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n], self._buffer = self._buffer[:n], self._buffer[n:]
        return n


def test_memory_does_not_grow_with_rows() -> None:
    from ml_connector.settlement.journal_builder import build_journals
    from ml_connector.settlement.mapping import load_mapping

    mapping = load_mapping()

    def peak(rows: int, fast: bool) -> int:
        tracemalloc.start()
        report = open_report(io.BufferedReader(_Endless(rows)))
        if fast:  # the builder's path (accumulate)
            result = build_journals(report, mapping)
            assert result.lines_total == report.settlement.total and not result.quarantined
        else:  # the streaming lines
            total = sum((ln.amount.amount for ln in report.lines()), Decimal(0))
            assert total == report.settlement.total.amount
        _current, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    for fast in (True, False):
        small, large = peak(3_000, fast), peak(30_000, fast)
        assert large < small * 1.5 + 200_000, (fast, small, large)


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "fr_FR", "ja_JP"])
def test_the_fast_path_sums_like_the_general_one(locale: str) -> None:
    from ml_connector.settlement.sums import LineSums

    currency = "JPY" if locale == "ja_JP" else "EUR"
    lines = [
        line(tt, at, ad, str(Decimal(amount) if currency != "JPY" else int(Decimal(amount))), currency=currency,
             market=market, sku=sku)
        for tt, at, ad, amount, market, sku in [
            ("Order", "ItemPrice", "Principal", "1234.50", "Amazon.de", "Ä-1"),
            ("Order", "ItemPrice", "Principal", "12.50", "Amazon.de", "B"),
            ("Order", "ItemFees", "Commission", "-2.10", None, "B"),
            ("Order", "ItemPrice", "Principal", "-99999.99", "Amazon.fr", "C"),
        ] * 1500
    ]  # fmt: skip
    data = v2_bytes(settlement_for(lines, currency=currency), lines, locale=locale).replace(
        b"\n", b"\n\n", 2500
    )
    fast, slow = LineSums(currency), LineSums(currency)
    open_report(data).accumulate(fast)
    slow.add_records(open_report(data).records())
    assert fast.sums == slow.sums and fast.count == slow.count == 6000
    assert fast.total == slow.total == settlement_for(lines, currency=currency).total.amount
