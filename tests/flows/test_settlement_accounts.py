"""Accounts resolved first: a mapping naming an account the ERP lacks (or has closed) fails the
settlement before any write, naming the account, on both ERPs; `ping` reports it too. And a
fee-only settlement without a marketplace takes the connection's, or is held with a question."""

from __future__ import annotations

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
