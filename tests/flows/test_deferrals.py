"""The deferrals flow end to end against the sandboxes: month-end accruals of what Amazon holds
back, reversed on release, exactly once across a crash; and the month-end tie-out against
Amazon's listBalances."""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.flows import deferrals, reconcile, settlements
from ml_connector.flows.context import open_context
from ml_connector.model import Money
from ml_connector.sandbox.deployment import M3_CONNECTION
from ml_connector.sources.amazon.balances import DeferredTransaction

US = "ATVPDKIKX0DER"


def _run(deployment, store, flow, name=M3_CONNECTION, checkpoint=None):
    ctx = open_context(
        store, deployment.config.connection(name), clock=deployment.clock, checkpoint=checkpoint
    )
    try:
        return flow.run(ctx)
    finally:
        ctx.close()


def _held_at(deployment, marketplace_id: str, end: datetime) -> Decimal:
    """What the sandbox's world holds deferred at a month end (earned before, released after)."""
    events = deployment.state("amazon").deferred_events()
    return sum(
        (
            e.total
            for e in events
            if e.marketplace.marketplace_id == marketplace_id
            and e.earned < end
            and e.posted >= end  # matured (released) only after
        ),
        Decimal(0),
    )


def _vouchers(deployment, prefix="DEFER-"):
    found = Counter()
    for voucher in deployment.state("m3").vouchers():
        key = voucher["lines"][0]["VTXT"].split()[0]
        if key.startswith(prefix):
            found[key] += 1
    return found


def _voucher_lines(deployment, key):
    for voucher in deployment.state("m3").vouchers():
        if voucher["lines"][0]["VTXT"].split()[0] == key:
            return voucher["lines"]
    raise AssertionError(f"no voucher {key}")


def test_month_end_accrual_then_reversal_on_release(deployment, store):
    summary = _run(deployment, store, deferrals)
    facts = {f["key"]: f for f in summary.facts["deferrals"]}
    assert summary.counts["posted"] == len(facts) >= 1, summary.notes
    # The newest month booked (a first run books every month end due since the first settlement).
    us = max((f for k, f in facts.items() if k.startswith("DEFER-US-")), key=lambda f: f["period"])
    start, end = deferrals.month_bounds(us["period"])
    # The accrual is what Amazon still held at the month end, to the cent, in the marketplace currency.
    assert Decimal(us["accrued"]) == Decimal(us["balance"]) == _held_at(deployment, US, end) > 0
    earliest = min((f for k, f in facts.items() if k.startswith("DEFER-US-")), key=lambda f: f["period"])
    assert us["currency"] == "USD" and earliest["reversed"] == "0.00"  # the first month reverses nothing
    rows = [r for r in us["rows"] if r["role"] == "accrued"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(us["accrued"])
    assert {r["reason"] for r in rows} <= {"B2B", "DD7"} and all(
        r["order_id"] and r["maturity"] for r in rows
    )
    # In the ERP: the deferred account (1296) debited with the accrual, revenue credited, balanced.
    lines = _voucher_lines(deployment, us["key"])
    by_account = Counter()
    for line in lines:
        by_account[line["AIT1"]] += Decimal(str(line["CUAM"]))
    moved = Decimal(us["accrued"]) - Decimal(
        us["reversed"]
    )  # this month's accrual less last month's releases
    assert by_account["1296"] == moved and moved != 0
    assert sum(by_account.values()) == 0  # balanced against revenue (and the other accounts of the orders)
    # A second run posts nothing again.
    again = _run(deployment, store, deferrals)
    assert again.counts["already_posted"] == len(facts) and not again.counts.get("posted")

    # The next month end passes: what was released is reversed, what is still held stays accrued.
    now = deployment.clock.now()
    next_end = deferrals.month_bounds(deferrals.period_of(end + timedelta(days=1)))[1]
    deployment.clock.advance((next_end + timedelta(days=2, hours=1) - now).total_seconds())
    later = _run(deployment, store, deferrals)
    following = deferrals.period_of(end + timedelta(days=1))
    nxt = next(f for f in later.facts["deferrals"] if f["key"] == f"DEFER-US-{following}")
    assert later.counts["posted"] >= 1 and later.counts["already_posted"] == len(facts), (
        later.counts,
        later.notes,
        [(f["key"], f["accrued"], f["reversed"]) for f in later.facts["deferrals"]],
    )
    reversed_ids = {r["transaction_id"] for r in nxt["rows"] if r["role"] == "reversed"}
    released = {
        r["transaction_id"]
        for r in rows
        if r["maturity"] and datetime.fromisoformat(r["maturity"]) < next_end  # matured: released by then
    }
    assert reversed_ids == released and released
    assert Decimal(nxt["balance"]) == _held_at(deployment, US, next_end)
    assert Decimal(nxt["balance"]) == Decimal(us["balance"]) + Decimal(nxt["accrued"]) - Decimal(
        nxt["reversed"]
    )
    assert max(_vouchers(deployment).values()) == 1


def _child(deployment, step):
    store = deployment.open_store()

    def kill(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    _run(deployment, store, deferrals, checkpoint=kill)


def test_exactly_once_across_a_crash(deployment, store, run_forked):
    for step in ("intent_recorded", "posted"):
        assert run_forked(_child, deployment, step) == -signal.SIGKILL
        deployment.clock.advance(16 * 60)  # the killed run's claim expires (15 minutes)
    store.close()
    reopened = deployment.open_store()
    try:
        summary = _run(deployment, reopened, deferrals)
        keys = [f["key"] for f in summary.facts["deferrals"]]
        assert keys and _vouchers(deployment) == dict.fromkeys(keys, 1)
        states = {}
        for key in keys:
            record = reopened.find_record(M3_CONNECTION, deferrals.KIND, key)
            assert record.state in ("posted", "found_existing") and record.erp_id
            states[key] = record.state
        assert states[keys[0]] == "found_existing"  # killed after the ERP wrote it: found, not posted again
    finally:
        reopened.close()


def test_month_end_tie_out_finds_a_difference_planted_in_amazons_balances(deployment, store):
    deployment.finish_reports()  # every month end due ties in full, whatever the hour
    _run(deployment, store, settlements)
    _run(deployment, store, deferrals)
    first = _run(deployment, store, reconcile)
    months = first.facts["month_ends"]
    assert months and not [d for m in months for d in m["differences"]], first.notes
    booked = [m for m in months if m["ledger_deferred"] not in (None, "0.00")]
    assert booked and all(m["ledger_deferred"] == m["amazon"]["DEFERRED"] for m in booked)
    assert all(m["deferral_rows"] for m in booked)  # the transactions behind the figure
    reserve = [m for m in months if m["ledger_reserve"] and m["ledger_reserve"] != "0.00"]
    assert reserve and all(m["ledger_reserve"] == m["amazon"]["ACCOUNT_LEVEL_RESERVE"] for m in reserve)

    month = booked[0]
    deployment.state("amazon").plant(balance=(month["marketplace_id"], "DEFERRED", Decimal("4.20")))
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        again = reconcile.reconcile_month_ends(ctx, [month["period"]])
    finally:
        ctx.close()
    diffs = [d.as_dict() for m in again for d in m.differences]
    assert {(d["subject"], d["message"], d["difference"], d["date"]) for d in diffs} == {
        (
            f"month end {month['period']} {month['marketplace_id']}",
            "the ledger's Amazon deferred balance differs from Amazon's DEFERRED balance",
            "4.20",
            month["as_of"],
        ),
        (
            f"month end {month['period']} {month['marketplace_id']}",
            "the ledger's reserve and deferred balances together differs from Amazon's RESERVED balance",
            "4.20",
            month["as_of"],
        ),
    }


def test_summary_and_payout_differences_are_named(deployment, store):
    _run(deployment, store, settlements)
    clean = _run(deployment, store, reconcile)
    facts = clean.facts["reconcile"]
    assert facts and all(f["summary"] == f["report_total"] for f in facts)
    paid = [f for f in facts if f["payout"] and f["payout"]["status"] == "PAID"]
    assert paid and all(
        f["payout"]["amount"] == f["journal_deposit"] and f["payout"]["trace_id"] for f in paid
    )
    assert not clean.counts.get("with_differences"), clean.notes
    one, two = paid[0]["settlement_id"], paid[1]["settlement_id"]
    amazon = deployment.state("amazon")
    amazon.plant(summary=(one, Decimal("-2.50")))
    amazon.plant(payout=(two, None, "FAILED"))
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        results = {r.settlement_id: r for r in reconcile.reconcile(ctx, [one, two])}
    finally:
        ctx.close()
    [summary_diff] = results[one].differences
    assert summary_diff.check == "summary" and summary_diff.amount == Money.of(
        "-2.50", summary_diff.found.currency
    )
    assert summary_diff.date == paid[0]["deposit_date"]
    [payout_diff] = results[two].differences
    assert payout_diff.check == "payout" and "FAILED, not PAID" in payout_diff.message
    assert f"trace T{two}" in payout_diff.message and payout_diff.date
    assert payout_diff.amount == -Money.of(paid[1]["report_total"], payout_diff.expected.currency)


def test_plan_months_accrues_once_and_reverses_in_the_month_of_release():
    def tx(tid, earned, maturity, status, amount="10.00"):
        return DeferredTransaction(
            tid, status, "DD7", datetime.fromisoformat(earned).replace(tzinfo=UTC),
            datetime.fromisoformat(maturity).replace(tzinfo=UTC), Money.of(amount, "USD"), US, "O-" + tid, None,
        )  # fmt: skip

    txs = [
        tx("a", "2026-09-25", "2026-10-05", "DEFERRED_RELEASED"),  # crosses September's end
        tx("b", "2026-10-02", "2026-10-12", "DEFERRED_RELEASED"),  # earned and released in October
        tx("c", "2026-10-28", "2026-11-27", "DEFERRED_RELEASED", "5.00"),  # B2B-like: one month
        tx("d", "2026-10-30", "2026-12-30", "DEFERRED", "7.00"),  # still held
        tx("e", "2026-08-20", "2026-10-03", "DEFERRED_RELEASED", "3.00"),  # before the first month
    ]
    months = {
        m.period: m for m in deferrals.plan_months(txs, US, ["2026-09", "2026-10", "2026-11"], "2026-09")
    }
    ids = lambda items: sorted(t.transaction_id for t in items)  # noqa: E731
    assert ids(months["2026-09"].accrued) == ["a", "e"] and months["2026-09"].balance == Money.of(
        "13.00", "USD"
    )
    assert ids(months["2026-10"].reversed) == ["a", "e"] and ids(months["2026-10"].accrued) == ["c", "d"]
    assert months["2026-10"].balance == Money.of("12.00", "USD")
    assert ids(months["2026-11"].reversed) == ["c"] and months["2026-11"].accrued == []
    assert months["2026-11"].balance == Money.of("7.00", "USD")


def test_each_settlement_lists_the_deferred_transactions_it_paid(deployment, store, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from ml_connector.cli.app import app

    _run(deployment, store, settlements)
    booked = _run(deployment, store, deferrals)
    released = {
        r["transaction_id"]: r
        for f in booked.facts["deferrals"]
        for r in f["rows"]
        if r["status"] == "DEFERRED_RELEASED"
    }
    summary = _run(deployment, store, reconcile)
    paid = {
        r["transaction_id"]: f["settlement_id"]
        for f in summary.facts["reconcile"]
        for r in f["deferred_released"]
    }
    assert paid and set(paid) <= set(released)
    world = {s.settlement_id: s for s in deployment.state("amazon").world.settlements}
    for tid, sid in paid.items():  # the release is an event of that very settlement
        assert any(e.deferred_id == tid for e in world[sid].events if e.deferral)
    # The same list as CSV beside the settlement's journal preview.
    sid = next(iter(paid.values()))
    path = tmp_path / f"{sid}.txt"
    path.write_bytes(store.raw_document(M3_CONNECTION, "settlement_report", sid))
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(deployment.home))
    monkeypatch.setenv("ML_CONNECTOR_CONFIG", str(deployment.config_path))
    result = CliRunner().invoke(app, ["settlement", "show", str(path), "--deferrals"])
    assert result.exit_code == 0, result.output
    header = ",".join(deferrals.CSV_COLUMNS)
    csv_part = result.output[result.output.index(header) :].strip().splitlines()
    assert {line.split(",")[2] for line in csv_part[1:]} == {t for t, s in paid.items() if s == sid}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 120),  # earned, days after 2026-07-01
            st.integers(1, 45),  # days to maturity
            st.booleans(),  # released (else still held)
            st.integers(1, 99999),  # cents
        ),
        max_size=25,
    )
)
def test_the_deferred_balance_rolls_forward_month_by_month(specs):
    origin = datetime(2026, 7, 1, tzinfo=UTC)
    txs = [
        DeferredTransaction(
            f"T{n}", "DEFERRED_RELEASED" if released else "DEFERRED", "B2B",
            origin + timedelta(days=earned, hours=5), origin + timedelta(days=earned + days, hours=5),
            Money(Decimal(cents) / 100, "USD"), US, f"O{n}", None,
        )
        for n, (earned, days, released, cents) in enumerate(specs)
    ]  # fmt: skip
    periods = deferrals.periods_between("2026-08", "2026-12")
    months = {m.period: m for m in deferrals.plan_months(txs, US, periods, "2026-08")}
    previous = Money.zero("USD")
    for period in periods:
        month = months.get(period) or deferrals.MonthDeferrals(US, "USD", period)
        end = deferrals.month_bounds(period)[1]
        held = [t for t in txs if t.earned < end and (not t.released or t.maturity >= end)]
        assert month.balance == Money(sum((t.total.amount for t in held), Decimal(0)), "USD")
        assert month.balance == previous + month.accrued_total - month.reversed_total
        previous = month.balance
    # Each transaction is accrued at most once and reversed at most once, never before its accrual.
    accrued = Counter(t.transaction_id for m in months.values() for t in m.accrued)
    reversed_ = Counter(t.transaction_id for m in months.values() for t in m.reversed)
    assert max(accrued.values(), default=1) == 1 and max(reversed_.values(), default=1) == 1
    assert set(reversed_) <= set(accrued)
