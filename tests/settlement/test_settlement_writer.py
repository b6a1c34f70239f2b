"""The V2 writer: the sandbox and the benchmark build on it, so its output is pinned here."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest

from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.writer import V2_COLUMNS, write_flat_file_v2


def _settlement(total: str = "-1234.56", currency: str = "EUR") -> Settlement:
    return Settlement(
        "123",
        datetime(2023, 3, 1, 7, 49, 55, tzinfo=UTC),
        datetime(2023, 3, 14, 7, 49, 55, tzinfo=UTC),
        datetime(2023, 3, 16, 7, 49, 55, tzinfo=UTC),
        Money.of(total, currency),
    )


def _line(amount: str, currency: str = "EUR") -> SettlementLine:
    return SettlementLine(
        "Order",
        "ItemPrice",
        "Principal",
        Money.of(amount, currency),
        date(2023, 3, 14),
        "111-222",
        sku="A",
        quantity=1,
        marketplace_name="Amazon.de",
    )


@pytest.mark.parametrize(
    ("locale", "amount", "start", "posted"),
    [
        ("en_US", "-1234.56", "2023-03-01 07:49:55 UTC", "03/14/2023"),
        ("en_CA", "-1,234.56", "2023-03-01T07:49:55+00:00", "2023-03-14"),
        ("en_GB", "-1,234.56", "01/03/2023 07:49:55 UTC", "14/03/2023"),
        ("de_DE", "-1.234,56", "01.03.2023 07:49:55 UTC", "14.03.2023"),
        ("fr_FR", "-1\u00a0234,56", "01/03/2023 07:49:55 UTC", "14/03/2023"),
        ("ja_JP", "-1,234.56", "2023/03/01 07:49:55 UTC", "2023/03/14"),
    ],
)
def test_locale_forms(locale: str, amount: str, start: str, posted: str) -> None:
    out = io.BytesIO()
    assert write_flat_file_v2(_settlement(), [_line("-1234.56")], out, locale=locale) == 1
    header, summary, detail = out.getvalue().decode("utf-8").splitlines()
    assert header.split("\t") == list(V2_COLUMNS)
    summary_cells = summary.split("\t")
    assert len(summary_cells) == len(V2_COLUMNS)
    assert summary_cells[:6] == ["123", start, summary_cells[2], summary_cells[3], amount, "EUR"]
    cells = dict(zip(V2_COLUMNS, detail.split("\t"), strict=True))
    assert cells["amount"] == amount
    assert cells["posted-date"] == posted
    assert cells["total-amount"] == ""
    assert (cells["amount-type"], cells["amount-description"], cells["sku"]) == (
        "ItemPrice",
        "Principal",
        "A",
    )


def test_jpy_has_no_decimals_and_text_streams_work() -> None:
    out = io.StringIO()
    write_flat_file_v2(_settlement("1234", "JPY"), [_line("1234", "JPY")], out, locale="ja_JP")
    assert out.getvalue().splitlines()[2].split("\t")[14] == "1,234"


def test_a_line_in_another_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="USD"):
        write_flat_file_v2(_settlement(), [_line("1", "USD")], io.StringIO())
