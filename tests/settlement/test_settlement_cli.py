"""`ml-connector settlement show`: readable output, the JSON contract, and exit 2 for quarantine."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.cli.app import app

from .settlement_helpers import ORDER, SMALL_SAMPLE, line, settlement_for, v2_bytes

runner = CliRunner()


def _show(*args: str):  # noqa: ANN202
    return runner.invoke(app, ["settlement", "show", *args])


def test_readable_summary_and_journal() -> None:
    result = _show(str(SMALL_SAMPLE))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Settlement 23874397121" in out and "Amazon.ca" in out
    assert "2025-07-31 22:07 to 2025-08-14 22:07 UTC" in out
    assert "Deposit  2025-08-16" in out and "-62.31 CAD" in out
    assert "Totals by category" in out and "Product sales" in out
    assert "Journal 23874397121" in out and "balanced" in out and "106.50" in out


def test_json_contract() -> None:
    result = _show("--json", str(SMALL_SAMPLE))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["settlement_id"] == "23874397121"
    assert (data["currency"], data["total"], data["lines_total"]) == ("CAD", "-62.31", "-62.31")
    assert data["start"] == "2025-07-31T22:07:18+00:00"
    assert data["end"] == "2025-08-14T22:07:18+00:00"
    assert data["deposit_date"] == "2025-08-16T22:07:18+00:00"
    assert data["unmapped"] == [] and data["quarantined"] is False
    (journal,) = data["journals"]
    assert journal["reference"] == "23874397121"
    assert (journal["total_debit"], journal["total_credit"], journal["balanced"]) == (
        "106.50",
        "106.50",
        True,
    )
    first = journal["lines"][0]
    assert set(first) >= {"account", "debit", "credit", "description"}
    # a negative settlement reaches no bank: it is owed to Amazon, on the Amazon balance account
    assert (first["account"], first["debit"], first["credit"]) == ("1280", "0.00", "62.31")
    assert "1020" not in {line["account"] for line in journal["lines"]}


def test_json_split_and_invoice(tmp_path: Path) -> None:
    result = _show("--json", "--split-by-period", "--mode", "invoice", str(SMALL_SAMPLE))
    data = json.loads(result.stdout)
    # July holds only Payable to Amazon and its card charge, which cancel: no July journal
    assert [j["reference"] for j in data["journals"]] == ["23874397121-2025-08"]
    assert all(j["balanced"] for j in data["journals"])
    assert data["mode"] == "invoice"


def test_custom_mapping_and_a_bad_one(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("ml_connector.settlement").joinpath("default_mapping.toml").read_text()
    custom = tmp_path / "mine.toml"
    custom.write_text(text.replace('amazon_balance = "1280"', 'amazon_balance = "1999"', 1))
    data = json.loads(_show("--json", "--mapping", str(custom), str(SMALL_SAMPLE)).stdout)
    assert data["journals"][0]["lines"][0]["account"] == "1999"
    bad = tmp_path / "bad.toml"
    bad.write_text("[accounts]\nbank = 1\n")
    result = _show("--mapping", str(bad), str(SMALL_SAMPLE))
    assert result.exit_code == 1 and "needs clearing" in result.stderr


AMBIGUOUS = (
    b"settlement-id\tsettlement-start-date\tsettlement-end-date\ttotal-amount\tcurrency\ttransaction-type\t"
    b"amount-type\tamount-description\tamount\n1\t2023-03-01\t2023-03-14\t1.234\tEUR\t\t\t\t\n"
    b"1\t\t\t\t\tOrder\tItemPrice\tPrincipal\t1.234\n"
)


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _cases(tmp_path: Path) -> dict[str, tuple[str, str]]:
    good = v2_bytes(settlement_for(ORDER), ORDER)
    mystery = [*ORDER, line("Mystery", "Thing", "One", "-1.00")]
    foreign = good.decode().split("\n")
    cells = foreign[3].split("\t")
    cells[5] = "CAD"
    foreign[3] = "\t".join(cells)
    return {
        "mismatch": (
            _write(tmp_path, "m.txt", v2_bytes(settlement_for(ORDER, total="20.00"), ORDER)),
            "sum to 9.75 USD, but total-amount is 20.00 USD; difference -10.25 USD",
        ),
        "mixed": (
            _write(tmp_path, "c.txt", "\n".join(foreign).encode()),
            "1 line(s) in CAD totalling 5.99 CAD",
        ),
        "unmapped": (
            _write(tmp_path, "u.txt", v2_bytes(settlement_for(mystery), mystery)),
            "('Mystery', 'Thing', 'One') x1 = -1.00 USD, first on line 15",
        ),
        "not a report": (_write(tmp_path, "n.txt", b"order-id\tsku\n1\t2\n"), "not a settlement report"),
        "truncated": (_write(tmp_path, "t.txt", good[: good.rfind(b"\t", 0, len(good) - 20)]), "cut short"),
        "truncated gzip": (_write(tmp_path, "t.gz", gzip.compress(good)[:-30]), "ends early"),
        "empty": (_write(tmp_path, "e.txt", b""), "empty"),
        "missing file": (str(tmp_path / "nope.txt"), "no such file"),
        "ambiguous": (_write(tmp_path, "a.txt", AMBIGUOUS), "is 1.234 with a decimal point but 1234"),
    }


@pytest.mark.parametrize(
    "case",
    ["mismatch", "mixed", "unmapped", "not a report", "truncated", "truncated gzip", "empty", "missing file"],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_quarantine_exits_2_with_the_reason_on_stderr(tmp_path: Path, case: str, as_json: bool) -> None:
    path, words = _cases(tmp_path)[case]
    result = _show(*(["--json"] if as_json else []), path)
    assert result.exit_code == 2, result.output
    assert "quarantined" in result.stderr and words in result.stderr
    if as_json:
        data = json.loads(result.stdout)
        assert data["quarantined"] is True and data["journals"] == []


def test_unmapped_prints_the_rule_to_add(tmp_path: Path) -> None:
    path, _ = _cases(tmp_path)["unmapped"]
    result = _show("--json", path)
    data = json.loads(result.stdout)
    (unmapped,) = data["unmapped"]
    assert (
        unmapped["transaction_type"] == "Mystery" and unmapped["lines"] == 1 and unmapped["amount"] == "-1.00"
    )
    assert (
        "[[rule]]" in unmapped["suggested_rule"] and '[[rule]]\ntransaction_type = "Mystery"' in result.stderr
    )


def test_default_mapping_is_printed_and_loads(tmp_path: Path) -> None:
    from ml_connector.settlement.mapping import load_mapping

    result = runner.invoke(app, ["settlement", "default-mapping"])
    assert result.exit_code == 0 and "[[rule]]" in result.stdout
    path = tmp_path / "mine.toml"
    path.write_text(result.stdout)
    assert len(load_mapping(path).rules) == len(load_mapping().rules)


def test_fee_tax_option_moves_the_ads_tax_to_the_ads() -> None:
    recoverable = json.loads(_show("--json", str(SMALL_SAMPLE)).stdout)["journals"][0]["lines"]
    expense = json.loads(_show("--json", "--fee-tax", "expense", str(SMALL_SAMPLE)).stdout)["journals"][0][
        "lines"
    ]
    assert "1310" in {ln["account"] for ln in recoverable} and "1310" not in {ln["account"] for ln in expense}
    assert _show("--fee-tax", "maybe", str(SMALL_SAMPLE)).exit_code == 1


def test_a_fee_only_report_previews_under_the_marketplace_given() -> None:
    sample = SMALL_SAMPLE.parent / "settlement_v1_23874396421.txt"
    data = json.loads(_show("--json", "--marketplace", "Amazon.ca", str(sample)).stdout)
    divisions = {dict(ln["dimensions"]).get("division") for j in data["journals"] for ln in j["lines"]}
    assert divisions == {"CA"}
