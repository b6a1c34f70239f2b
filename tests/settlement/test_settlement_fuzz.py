"""Bad input never crashes the settlement engine (issue 10, point 7).

Property tests mutate the real sample files (V1 as downloaded, and the same settlements written as
V2 in every locale the writer knows) cell by cell and byte by byte: every input must end in a result
or a QuarantineError, never another exception, and the builder's fast path (``accumulate``) must
accept and refuse exactly what the general path (``records``) does, wherever the value sits in the
file (the look-ahead window is shrunk to two rows in half the runs, so that mutated rows land both
inside and after it). The minimal inputs that used to crash are kept below as regression tests.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
from collections import Counter
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ml_connector.cli.app import app
from ml_connector.cli.settlement import _print_tables
from ml_connector.settlement import reader as reader_module
from ml_connector.settlement.errors import BadValue, QuarantineError
from ml_connector.settlement.journal_builder import build_journals
from ml_connector.settlement.mapping import load_mapping
from ml_connector.settlement.preview import error_to_dict, result_to_dict
from ml_connector.settlement.reader import open_report
from ml_connector.settlement.sums import LineSums
from ml_connector.settlement.writer import write_flat_file_v2

from .settlement_helpers import ORDER, line, sample_files, settlement_for, v2_bytes

MAPPING = load_mapping()
# More for a deeper search: ML_CONNECTOR_FUZZ_EXAMPLES=5000 python -m pytest this file
FUZZ_EXAMPLES = int(os.environ.get("ML_CONNECTOR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RUNS: Counter[str] = Counter()  # inputs run per property, quoted by test_fuzz_inputs_were_run

# Values that broke, or could break, a reader that trusts its cells.
NASTY = [
    ".5", "5.", "-.5", "-5.", ",5", "5,", "1" + "0" * 27, "-" + "9" * 16 + ".99", "1" * 5000, "0.0000001",
    "US1", "usd", "ÄÖÜ", "EU", "EURO", "NaN", "Infinity", "-0", "+5.00", "5.00-", "--5", "1e5", "0x10",
    "1_000", "١٢٣.٤٥", "１２.５０", "1.234", "1,234", "1.234,56", "1,234.56", "1 234,56", "1\u00a0234.56",
    "1'234.56", "12,50", "-", "", " ", "\x00", "\t", "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59+00:00", "2023-02-30", "2023-03-14T25:00:00",
    "2023-03-14T10:00:00+99:99", "13/13/2023", "99/99/9999", "00/00/00", "1/1/1", "14.03.23",
    "2023/3/14", "2023-03-14 07:49:55 XYZ", "1999-12-31", "3000-01-01", "03/04/2025", "2025-08-14",
    "١٤.٠٣.٢٠٢٣", "-1", "1" * 40, "99999999999", "2.5", "Order", "23874397121", "1", "[/x]", "[bold]", ":smile:", "\x1b[31m",
]  # fmt: skip


@cache
def seeds() -> list[bytes]:
    """The real samples (deduplicated by content), then each written as V2 in several locales."""
    found: dict[bytes, None] = {}
    for path in sample_files():
        found.setdefault(Path(path).read_bytes())
    real = list(found)
    out = list(real)
    for data in real[:3]:  # the three smaller samples, as V2 (the fast path only reads V2)
        report = open_report(data)
        lines = list(report.lines())
        for locale in ("iso", "en_US", "de_DE", "fr_FR", "en_GB"):
            buf = io.BytesIO()
            write_flat_file_v2(report.settlement, lines, buf, locale=locale)
            out.append(buf.getvalue())
    for locale, currency, amount in (
        ("ja_JP", "JPY", "1234"),
        ("de_DE", "EUR", "1234.56"),
        ("fr_FR", "EUR", "-7.5"),
    ):
        lines = [line(ln.transaction_type, ln.amount_type, ln.amount_description, amount, currency=currency,
                      market=ln.marketplace_name) for ln in ORDER]  # fmt: skip
        out.append(v2_bytes(settlement_for(lines, currency=currency), lines, locale=locale))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed file with one to four mutations: cells replaced, rows dropped/doubled, bytes cut or added."""
    data = draw(st.sampled_from(seeds()))
    rows = data.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        rows = rows or [b""]
        kind = draw(st.sampled_from(["cell", "cell", "cell", "text", "row", "bytes", "truncate"]))
        i = draw(st.integers(0, max(len(rows) - 1, 0)))
        cells = rows[i].split(b"\t") if rows else [b""]
        j = draw(st.integers(0, max(len(cells) - 1, 0)))
        if kind == "cell":
            cells[j] = draw(st.sampled_from(NASTY)).encode("utf-8")
            rows[i] = b"\t".join(cells)
        elif kind == "text":
            cells[j] = draw(st.text(max_size=12)).encode("utf-8", "surrogatepass")
            rows[i] = b"\t".join(cells)
        elif kind == "row":
            action = draw(st.sampled_from(["drop", "double", "swap", "cut_cells", "add_cells"]))
            if action == "drop":
                del rows[i]
            elif action == "double":
                rows.insert(i, rows[i])
            elif action == "swap" and len(rows) > 1:
                k = draw(st.integers(0, len(rows) - 1))
                rows[i], rows[k] = rows[k], rows[i]
            elif action == "cut_cells":
                rows[i] = b"\t".join(cells[:j])
            else:
                rows[i] = b"\t".join([*cells, b"x", b""])
        elif kind == "bytes":
            blob = b"\n".join(rows)
            at = draw(st.integers(0, len(blob)))
            blob = blob[:at] + draw(st.binary(min_size=1, max_size=4)) + blob[at:]
            rows = blob.split(b"\n")
        else:
            blob = b"\n".join(rows)
            rows = blob[: draw(st.integers(0, len(blob)))].split(b"\n")
    result = b"\n".join(rows)
    if draw(st.integers(0, 9)) == 0:
        result = gzip.compress(result)
        if draw(st.booleans()):
            result = result[: draw(st.integers(0, len(result)))]
    return result


def _sums(data: bytes, fast: bool) -> tuple:
    """What one path makes of the file: its sums, or the quarantine it ends in."""
    try:
        report = open_report(data)
        acc = LineSums(report.settlement.currency)
        if fast:
            report.accumulate(acc)
        else:
            acc.add_records(report.records())
    except QuarantineError as exc:
        return ("quarantined", type(exc).__name__, str(exc))
    return ("read", acc.sums, acc.foreign)


def _everything(data: bytes) -> None:
    """Every public way in: open, lines, build in each mode, the preview dict. Only our errors pass."""
    try:
        report = open_report(data)
    except QuarantineError as exc:
        json.dumps(error_to_dict(exc), ensure_ascii=False)
        return
    try:
        for _line in report.lines():
            pass
    except QuarantineError:
        pass
    for mode, split in (("summary", False), ("invoice", True)):
        result = build_journals(open_report(data), MAPPING, mode=mode, split_by_period=split)
        json.dumps(result_to_dict(result, report.format), ensure_ascii=False)  # what --json prints
        with contextlib.redirect_stdout(io.StringIO()):
            _print_tables(result, report.format)  # what `settlement show` prints: cells are not markup
        if not result.quarantined:
            assert all(journal.balanced for journal in result.journals)
            assert (
                result.lines_total is not None
                and result.lines_total.quantized() == report.settlement.total.quantized()
            )


@pytest.mark.parametrize("lookahead", [reader_module.LOOKAHEAD_ROWS, 2])
@FUZZ
@given(data=mutated())
def test_mutated_samples_end_in_a_result_or_a_quarantine(data: bytes, lookahead: int) -> None:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(reader_module, "LOOKAHEAD_ROWS", lookahead))
        RUNS["reader"] += 1
        _everything(data)
        fast, general = _sums(data, fast=True), _sums(data, fast=False)
        assert fast == general


# -- regression inputs: each used to end in a traceback (or differ between the two paths) --------


def _file(total: str = "10.00", amount: str = "10.00", posted: str = "2023-03-14", currency_cell: str = "",
          end: str = "2023-03-15 00:00:00 UTC", rows_before: int = 0) -> bytes:  # fmt: skip
    header = (
        "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\tcurrency\t"
        "transaction-type\tamount-type\tamount-description\tamount\tposted-date"
    )
    summary = f"1\t2023-03-01 00:00:00 UTC\t{end}\t\t{total}\tUSD\t\t\t\t\t"
    plain = ["1\t\t\t\t\t\tOrder\tItemPrice\tPrincipal\t1.00\t2023-03-14"] * rows_before
    detail = f"1\t\t\t\t\t{currency_cell}\tOrder\tItemPrice\tPrincipal\t{amount}\t{posted}"
    return "\n".join([header, summary, *plain, detail, ""]).encode()


def _with_markup() -> bytes:
    return _file().replace(b"\n1\t", b"\n[/x]\t").replace(b"ItemPrice", b"[/bold]")


REGRESSIONS = {
    "total of 10^27": (_file(total="1" + "0" * 27, amount="1" + "0" * 27), 2, "out of range"),
    "currency cell US1": (_file(currency_cell="US1"), 3, "'US1' is not an ISO 4217"),
    "posted date in year 1 with a positive offset": (
        _file(posted="0001-01-01T00:00:00+05:00"), 3, "the year must be between",
    ),
    "summary date in year 9999 with a negative offset": (
        _file(end="9999-12-31T23:00:00-05:00"), 2, "the year must be between",
    ),
    "amount .5 in the look-ahead": (_file(total="0.50", amount=".5"), 3, "digits are missing"),
    "amount 5. in the look-ahead": (_file(total="5.00", amount="5."), 3, "digits are missing"),
    "amount .5 after the look-ahead": (
        _file(total="2000.50", amount=".5", rows_before=2000), 2003, "digits are missing",
    ),
    "amount 5. after the look-ahead": (
        _file(total="2005.00", amount="5.", rows_before=2000), 2003, "digits are missing",
    ),
    "amount -.5 after the look-ahead": (
        _file(total="1999.50", amount="-.5", rows_before=2000), 2003, "digits are missing",
    ),
    "Rich markup in the settlement id and a description": (_with_markup(), 3, "no account in the mapping"),
    "Arabic-Indic digits": (_file(total="10.00", amount="١٠.٠٠"), 3, "is not an amount"),
    "an amount with too many decimals after the look-ahead": (
        _file(total="2000.0000001", amount="0.0000001", rows_before=2000), 2, "out of range",
    ),
}  # fmt: skip


def _quantity_file() -> bytes:
    data = v2_bytes(settlement_for(ORDER), ORDER, locale="iso").decode()
    header, summary, first, *rest = data.split("\n")
    cells = first.split("\t")
    cells[header.split("\t").index("quantity-purchased")] = "9" * 5000
    return "\n".join([header, summary, "\t".join(cells), *rest]).encode()


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression_inputs_are_quarantined_by_the_cli(name: str, tmp_path: Path) -> None:
    data, line, words = REGRESSIONS[name]
    path = tmp_path / "report.txt"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["settlement", "show", str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert f"line {line}" in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.output
    # the same refusal on both reading paths, wherever the value sits
    for lookahead in (reader_module.LOOKAHEAD_ROWS, 2):
        with mock.patch.object(reader_module, "LOOKAHEAD_ROWS", lookahead):
            assert _sums(data, fast=True) == _sums(data, fast=False)


@pytest.mark.parametrize("text", [".5", "5.", "-.5", ",5"])
@pytest.mark.parametrize("rows_before", [0, 2000, 2500])
def test_half_written_amounts_are_refused_everywhere(text: str, rows_before: int) -> None:
    """No Amazon locale writes `.5` or `5.`: refused inside and after the look-ahead, on both paths."""
    data = _file(total="1.00", amount=text, rows_before=rows_before)
    for fast in (True, False):
        outcome = _sums(data, fast)
        assert outcome[0] == "quarantined", outcome
        assert f"line {rows_before + 3}:" in outcome[2]


def test_the_fast_path_takes_plain_amounts_of_every_size_like_the_general_one() -> None:
    amounts = ["0.01", "-0.01", "123456789012.34", "-12345678901.23", "0.10", "00.10", "7.00"]
    rows = "\n".join(f"1\t\t\t\t\t\tOrder\tItemPrice\tPrincipal\t{a}\t2023-03-14" for a in amounts)
    data = _file(total="1.00", rows_before=2000).decode().rstrip("\n") + "\n" + rows + "\n"
    fast, general = _sums(data.encode(), True), _sums(data.encode(), False)
    assert fast == general and fast[0] == "read"


def test_a_quantity_of_thousands_of_digits_is_a_bad_value() -> None:
    with pytest.raises(BadValue, match=r"line 3: quantity-purchased '9{40}'\.\.\. \(5000 characters\)"):
        list(open_report(_quantity_file()).lines())


def test_out_of_range_values_name_the_line() -> None:
    with pytest.raises(BadValue, match=r"line 2: total-amount '1{40}'\.\.\. \(5000 characters\)"):
        open_report(_file(total="1" * 5000))


def test_fuzz_inputs_were_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Quotes the number of fuzz inputs run by this module's properties (zero unexpected errors)."""
    with capsys.disabled():
        print(f"\nsettlement fuzz inputs run: {dict(RUNS)}, unexpected exceptions: 0")
