"""Acumatica payment mode end to end: each settlement journal's AR payment is its own ``ar_payment``
record, its amounts decided by the settlements flow; a payment refused for want of its cash account
fails alone (the journal stays posted) and is replayed, rebuilt from the kept report, once fixed."""

from decimal import Decimal

from ml_connector.engine.replay import replay_failed
from ml_connector.flows import orders, registry, settlements
from ml_connector.flows.context import open_context
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION

CLEARING = 'invoice_settlement = "clearing"'


def _run(deployment, store, flow):
    ctx = open_context(store, deployment.config.connection(ACUMATICA_CONNECTION), clock=deployment.clock)
    try:
        return flow.run(ctx)
    finally:
        ctx.close()


def _records(store, kind: str) -> list:
    return [r for r in store.records(connection=ACUMATICA_CONNECTION) if r.kind == kind]


def _configure(deployment, text: str) -> None:
    config = deployment.config_path.read_text()
    assert CLEARING in config
    deployment.config_path.write_text(config.replace(CLEARING, text))


def test_payment_mode_posts_one_ar_payment_per_journal_and_replays_a_refused_one(deployment, store):
    _configure(deployment, 'invoice_settlement = "payment"\nclearing_account = "1210"')  # no cash account yet
    _run(deployment, store, orders)
    first = _run(deployment, store, settlements)
    journals = _records(store, "journal")
    assert journals and all(r.state == "posted" for r in journals)
    refused = _records(store, "ar_payment")
    assert refused, "no journal asked for an AR payment"
    assert all(r.state == "failed" and "needs payment_cash_account" in (r.error or "") for r in refused)
    assert first.counts.get("failed")
    acumatica = deployment.state("acumatica")
    assert not acumatica.records.get("Payment")

    config = deployment.config_path.read_text()
    deployment.config_path.write_text(
        config.replace(
            'clearing_account = "1210"', 'clearing_account = "1210"\npayment_cash_account = "AMZCLEAR"'
        )
    )
    registry.install_rebuilders()
    replayed = {(o.key, o.state) for o in replay_failed(store, connection=ACUMATICA_CONNECTION)}
    after = _records(store, "ar_payment")
    assert {r.key for r in after} == {r.key for r in refused}
    paid = [r for r in after if r.state == "posted"]
    assert paid and all((r.key, "posted") in replayed for r in paid)
    invoiced = {r.key for r in _records(store, "sales_invoice") if r.state in ("posted", "found_existing")}
    for r in after:  # a settlement paying an order the connector never invoiced fails alone, in words
        if r.state != "posted":
            assert r.state == "failed" and "no Acumatica invoice for order" in (r.error or ""), r.error
            order = (r.error or "").split("for order ", 1)[1].split()[0]
            assert order not in invoiced
    payments = list(acumatica.records["Payment"].values())
    assert sorted(p["PaymentRef"] for p in payments) == sorted(r.key for r in paid)  # one each, none twice
    assert len(acumatica.records["JournalTransaction"]) == len(journals)  # no journal posted again
    for payment in payments:
        applied = sum(Decimal(str(row["AmountPaid"])) for row in payment["DocumentsToApply"])
        assert applied == Decimal(str(payment["PaymentAmount"])) > 0
