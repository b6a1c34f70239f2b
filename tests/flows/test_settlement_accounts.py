"""Accounts resolved first: a mapping naming an account the ERP lacks (or has closed) fails the
settlement before any write, naming the account, on both ERPs; `ping` reports it too. And a
fee-only settlement without a marketplace takes the connection's, or is held with a question."""

from __future__ import annotations

import re
from importlib.resources import files

from ml_connector.flows import settlements
from ml_connector.flows.context import open_context
from ml_connector.flows.ping import ping_connection
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION


def _run(deployment, store, name):
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        return settlements.run(ctx)
    finally:
        ctx.close()


def _use_mapping(deployment, tmp_path, connection: str, old: str, new: str) -> None:
    default = files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
    assert old in default
    path = tmp_path / f"{connection}.toml"
    path.write_text(default.replace(old, new))
    text = deployment.config_path.read_text()
    marker = f'name = "{connection}"'
    assert marker in text
    deployment.config_path.write_text(text.replace(marker, f'{marker}\nmapping = "{path}"', 1))


def test_m3_an_account_missing_from_the_chart_fails_before_any_write(deployment, store, tmp_path):
    _use_mapping(deployment, tmp_path, M3_CONNECTION, 'account = "5100"', 'account = "5999"')
    sandbox = deployment.state("m3")
    world = sandbox.world
    summary = _run(deployment, store, M3_CONNECTION)
    assert summary.counts["failed"] >= 1
    failed = store.records(connection=M3_CONNECTION, state="failed")
    assert all("account 5999 is not in M3's chart of accounts (FCHACC)" in r.error for r in failed)
    # only the settlements without selling fees (fee-only ones) were written, and only they
    posted = sum(len(f["journals"]) for f in summary.facts["settlements"])
    assert world.calls["GLS840MI.AddBatchHead"] == posted == len(sandbox.vouchers())
    assert world.calls["EXPORTMI.Select"] == 1  # the chart is read once per run
    problems = dict(ping_connection(store, deployment.config.connection(M3_CONNECTION)))["m3"]
    assert any("account 5999" in p and "mapping" in p for p in problems)


def test_m3_a_blocked_account_fails_before_any_write_and_ping_names_it(deployment, store):
    """An account M3 has closed (FCHACC lock code EALCCD = 1) is refused before the first MI write,
    with the account named, and `ping` reports it."""
    sandbox = deployment.state("m3")
    world = sandbox.world
    world.blocked_accounts.add("5100")  # selling fees: closed in M3's chart
    summary = _run(deployment, store, M3_CONNECTION)
    failed = store.records(connection=M3_CONNECTION, state="failed")
    assert failed and summary.counts["failed"] == len(failed)
    assert all("account 5100 is blocked in M3's chart of accounts" in r.error for r in failed)
    posted = sum(len(f["journals"]) for f in summary.facts["settlements"])
    assert world.calls["GLS840MI.AddBatchHead"] == posted == len(sandbox.vouchers())  # none for the failed
    problems = dict(ping_connection(store, deployment.config.connection(M3_CONNECTION)))["m3"]
    assert any("account 5100 is blocked" in p for p in problems)


def test_m3_without_exportmi_uses_the_configured_chart(deployment, store, tmp_path):
    deployment.state("m3").world.exportmi_allowed = False
    problems = dict(ping_connection(store, deployment.config.connection(M3_CONNECTION)))["m3"]
    assert any("EXPORTMI" in p and "chart_accounts" in p for p in problems)


def test_acumatica_a_missing_or_inactive_account_fails_before_any_write(deployment, store, tmp_path):
    sandbox = deployment.state("acumatica")
    (record,) = [r for r in sandbox.records["Account"].values() if r["AccountCD"] == "5110"]
    record["Active"] = False  # closed in the ERP
    _use_mapping(deployment, tmp_path, ACUMATICA_CONNECTION, 'account = "5100"', 'account = "5999"')
    summary = _run(deployment, store, ACUMATICA_CONNECTION)
    assert summary.counts["failed"] >= 1
    (failed, *_) = store.records(connection=ACUMATICA_CONNECTION, state="failed")
    assert "account 5999 is not in Acumatica's chart of accounts" in failed.error
    assert "account 5110" in failed.error and "inactive" in failed.error
    posted = sum(len(f["journals"]) for f in summary.facts.get("settlements", []))
    assert len(sandbox.records["JournalTransaction"]) == posted  # the failed ones wrote nothing
    problems = dict(ping_connection(store, deployment.config.connection(ACUMATICA_CONNECTION)))["acumatica"]
    assert any("account 5999" in p for p in problems) and any(
        "5110" in p and "inactive" in p for p in problems
    )
    assert sandbox.open_sessions == 0


def test_ping_is_clean_with_the_default_mapping(deployment, store):
    for name in (M3_CONNECTION, ACUMATICA_CONNECTION):
        for system, problems in ping_connection(store, deployment.config.connection(name)):
            assert problems == [], (name, system, problems)


def _fee_only_report(sid: str) -> bytes:
    """Like the real 23874396421: account-level rows only, so the report names no marketplace."""
    import io
    from datetime import UTC, datetime

    from ml_connector.model.money import Money
    from ml_connector.model.settlement import Settlement, SettlementLine
    from ml_connector.settlement.writer import write_flat_file_v2

    day = datetime(2026, 11, 2, 22, 7, 18, tzinfo=UTC)
    lines = [
        SettlementLine("Subscription Fee", "other-transaction", "Subscription Fee", Money.of("-39.99", "USD"), day.date()),
        SettlementLine("Successful charge", "other-transaction", "Successful charge", Money.of("39.99", "USD"), day.date()),
    ]  # fmt: skip
    settlement = Settlement(sid, day, day.replace(day=16), day.replace(day=18), Money.of("0.00", "USD"))
    out = io.BytesIO()
    write_flat_file_v2(settlement, lines, out, locale="en_US")
    return out.getvalue()


def test_a_fee_only_settlement_is_held_with_a_question_then_set_and_replayed(deployment, store):
    from typer.testing import CliRunner

    from ml_connector.cli.app import app

    sid = "29999999991"
    data = _fee_only_report(sid)
    store.keep_raw_document(M3_CONNECTION, settlements.RAW_KIND, sid, data)
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        outcome, _facts = settlements.post_settlement(ctx, ctx.engine(settlements.FLOW), sid, data, ())
    finally:
        ctx.close()
    assert outcome == "failed"
    record = store.find_record(M3_CONNECTION, "settlement", sid)
    assert record.state == "failed" and "which marketplace does it belong to?" in record.error
    assert (
        f"ml-connector settlement set-marketplace {sid} MARKETPLACE --connection {M3_CONNECTION}"
        in record.error
    )

    runner = CliRunner()
    wrong = runner.invoke(
        app, ["settlement", "set-marketplace", sid, "Amazon.de", "--connection", M3_CONNECTION]
    )
    assert wrong.exit_code == 1 and "choose one of" in wrong.stderr
    result = runner.invoke(
        app, ["settlement", "set-marketplace", sid, "amazon.ca", "--connection", M3_CONNECTION]
    )
    assert result.exit_code == 0, result.output
    assert "books under Amazon.ca" in result.stdout and "replayed: posted" in result.stdout
    assert store.find_record(M3_CONNECTION, "settlement", sid).state == "posted"
    lines = [ln for v in deployment.state("m3").vouchers() for ln in v["lines"] if ln["VTXT"].startswith(sid)]
    assert lines  # the journal reached M3, under the division of Amazon.ca


def test_a_fee_only_settlement_of_a_one_marketplace_connection_takes_its_marketplace(deployment, store):
    sid = "29999999992"
    data = _fee_only_report(sid)
    ctx = open_context(store, deployment.config.connection(ACUMATICA_CONNECTION), clock=deployment.clock)
    try:
        marketplace, decided = settlements.settlement_marketplace(store, ctx.connection, data)
    finally:
        ctx.close()
    assert (marketplace, decided) == ("Amazon.co.uk", "connection")


def test_m3_dimension_values_are_checked_against_fchacc(deployment, store):
    text = deployment.config_path.read_text()
    marker = 'order_type = "AMZ"'
    assert marker in text
    deployment.config_path.write_text(
        text.replace(marker, marker + '\ndimension_fields = { division = "AIT2" }', 1)
    )
    deployment.state("m3").world.accounting_identities[2] = {"US"}  # the tenant has no CA division value
    summary = _run(deployment, store, M3_CONNECTION)
    failed = store.records(connection=M3_CONNECTION, state="failed")
    assert summary.counts["failed"] == len(failed) >= 1
    assert all("dimension division=CA (AIT2) is not in M3's FCHACC" in r.error for r in failed)
    problems = dict(ping_connection(store, deployment.config.connection(M3_CONNECTION)))["m3"]
    assert any("division=CA (AIT2)" in p for p in problems)
    assert not any("division=US" in p for p in problems)


def test_acumatica_an_inactive_subaccount_is_named(deployment, store):
    sandbox = deployment.state("acumatica")
    (record,) = sandbox.records["Subaccount"].values()
    record["Active"] = False
    problems = dict(ping_connection(store, deployment.config.connection(ACUMATICA_CONNECTION)))["acumatica"]
    assert any("subaccount 000000 is inactive" in p for p in problems)


def _run_converted(deployment, store, monkeypatch, connection: str, currency: str, bank: str, rate: str):
    """Run the settlements flow while Amazon's event groups say each positive ``currency`` deposit
    reached the bank converted to ``bank`` at ``rate``; the facts of those settlements."""
    from dataclasses import replace
    from decimal import Decimal

    from ml_connector.model.money import Money

    ctx = open_context(store, deployment.config.connection(connection), clock=deployment.clock)
    real = ctx.amazon.list_financial_event_groups

    def converted(*args, **kwargs):
        for group in real(*args, **kwargs):
            total = group.original_total
            if total is not None and total.currency == currency and total.amount > 0:
                amount = (total.amount * Decimal(rate)).quantize(total.amount)
                group = replace(group, converted_total=Money(amount, bank))
            yield group

    monkeypatch.setattr(ctx.amazon, "list_financial_event_groups", converted)
    try:
        summary = settlements.run(ctx)
    finally:
        ctx.close()
    assert not summary.counts.get("failed")
    facts = [
        f
        for f in summary.facts["settlements"]
        if f["currency"] == currency and not f["total"].startswith("-") and "payout_conversion" in f
    ]
    assert facts
    return facts


def test_m3_a_converted_payout_books_realised_fx_at_m3s_own_rate(deployment, store, monkeypatch):
    """The CAD deposit reached the bank in USD at Amazon's 0.73; M3's rate (CCURRA, read through
    EXPORTMI) is 0.72 USD per CAD: the bank line is what the USD are worth at 0.72 in CAD, the
    difference to total-amount is realised FX on 7900, and the voucher balances to the cent."""
    from decimal import Decimal

    world = deployment.state("m3").world
    world.exchange_rates[("CAD", 1, "20000101")] = Decimal("0.72")
    world.exchange_rates[("CAD", 1, "29991231")] = Decimal("9.99")  # after the deposit: never used
    facts = _run_converted(deployment, store, monkeypatch, M3_CONNECTION, "CAD", "USD", "0.73")
    for fact in facts:
        fx = fact["payout_conversion"]
        assert fx["booking_rate"] == "0.720000" and fx["amazon_rate"].startswith("0.7")
        assert "CCURRA" in fx["rate_source"] and "note" not in fx
        total = Decimal(fact["total"])
        usd = Decimal(fx["converted"].split()[0])
        at_booking = (usd / Decimal("0.72")).quantize(Decimal("0.01"))
        assert Decimal(fx["realised_fx"].split()[0]) == total - at_booking  # + = loss; a gain here
        assert at_booking != total
    keys = {f["settlement_id"] for f in facts}
    vouchers = [
        v for v in deployment.state("m3").vouchers() if any(ln["VTXT"][:11] in keys for ln in v["lines"])
    ]
    assert vouchers
    for voucher in vouchers:  # per period where the connection splits: each balances to the cent
        assert sum(Decimal(ln["CUAM"].replace(",", ".")) for ln in voucher["lines"]) == 0
    for key in keys:  # the FX line sits in the payout's journal
        fx_lines = [
            ln for v in vouchers for ln in v["lines"] if ln["VTXT"][:11] == key and ln["AIT1"] == "7900"
        ]
        assert len(fx_lines) == 1
    kept = store.get_cursor(M3_CONNECTION, settlements.PAYOUT_CONVERSION.format(facts[0]["settlement_id"]))
    assert '"booking_rate": "0.720000"' in kept  # kept: a replay books the same rate


def test_m3_without_a_rate_the_converted_payout_is_booked_at_amazons_rate_and_says_so(
    deployment, store, monkeypatch
):
    """No CAD rate in M3: the journal still balances, the bank line is total-amount (Amazon's rate)
    with the converted amount and the rate in its text, no FX line, and the record says why."""
    facts = _run_converted(deployment, store, monkeypatch, M3_CONNECTION, "CAD", "USD", "0.73")
    for fact in facts:
        fx = fact["payout_conversion"]
        assert fx["booking_rate"] is None and fx["realised_fx"] == "0 CAD"
        assert "no realised FX booked" in fx["note"] and "M3 holds no exchange rates" in fx["note"]
    texts = [ln["VTXT"] for v in deployment.state("m3").vouchers() for ln in v["lines"]]
    # M3's 40-character VTXT keeps the key, the converted amount and Amazon's rate
    assert any(re.search(r"^\d{11}-\d{4}-\d{2} [\d.]+ USD @0\.7\d{5}$", t) for t in texts), texts[:5]
    assert not any(ln["AIT1"] == "7900" for v in deployment.state("m3").vouchers() for ln in v["lines"])


def test_acumatica_a_converted_payout_is_booked_at_amazons_rate_and_says_why(deployment, store, monkeypatch):
    """Acumatica's Default endpoint serves no exchange rate: booked at Amazon's rate, named."""
    facts = _run_converted(deployment, store, monkeypatch, ACUMATICA_CONNECTION, "GBP", "EUR", "1.17")
    for fact in facts:
        fx = fact["payout_conversion"]
        assert fx["booking_rate"] is None and "no currency-rate entity" in fx["note"]
    sandbox = deployment.state("acumatica")
    texts = [str(j) for j in sandbox.records["JournalTransaction"].values()]
    assert any(re.search(r"EUR @1\.1\d{5} EUR/GBP: at Amazon's rate \(no ledger rate\)", t) for t in texts)
    assert not any("7900" in t for t in texts)
