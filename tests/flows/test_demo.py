"""`ml-connector demo` in the suite: the whole job on the sandboxes, and nothing posted twice."""

from decimal import Decimal

import pytest

from ml_connector.demo import run_demo

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_flow_and_posts_nothing_twice(tmp_path):
    lines: list[str] = []
    report = run_demo(lines.append, home=tmp_path / "demo")
    text = "\n".join(lines)
    # the home is named only because it is kept, and only at the end, where it stays
    assert [line for line in lines if str(tmp_path / "demo") in line][0].startswith("  kept in")
    assert "replay --failed: {" not in text and "found_existing" not in text  # words, not a Python dict

    assert report.duplicates == []
    assert report.total("settlements", "posted") >= 6
    assert report.total("orders", "posted") > 50
    assert report.replayed["posted"] >= 1  # the long SKUs, once mapped
    assert report.total("shipments", "confirmed") >= 1
    assert report.total("stock_price", "updated") >= 1
    # The later passes post nothing that the first already posted.
    for summary in report.passes[-1]:
        assert summary.counts.get("run_failed", 0) == 0, summary.notes
        if summary.flow == "orders":
            assert summary.counts.get("posted", 0) == 0
    # The month-end accruals: each figure is the sum of the deferred transactions listed behind it.
    for fact in report.facts("deferrals", "deferrals"):
        accrued = [r for r in fact["rows"] if r["role"] == "accrued"]
        assert sum(Decimal(r["amount"]) for r in accrued) == Decimal(fact["accrued"])
    for heading in (
        "settlements posted",
        "orders created",
        "customers",
        "SKUs mapped",
        "stock & price updates",
        "shipments confirmed",
        "reconciliation",
        "month-end accrual",
        "keys posted twice       none",
        "wall time",
    ):
        assert heading in text
