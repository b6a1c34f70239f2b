"""The settlements and orders flows end to end: sandboxes over loopback HTTP, both ERPs."""

from decimal import Decimal

from ml_connector.engine.replay import replay_failed
from ml_connector.flows import orders, registry, settlements
from ml_connector.flows.context import open_context
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION
from ml_connector.settlement.reader import open_report


def _run(deployment, store, flow, name):
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        return flow.run(ctx), ctx
    finally:
        ctx.close()


def test_settlements_post_balanced_journals_once_into_m3(deployment, store):
    summary, ctx = _run(deployment, store, settlements, M3_CONNECTION)
    assert summary.counts["posted"] >= 4 and not summary.counts.get("failed")
    vouchers = deployment.state("m3").vouchers()
    assert len(vouchers) == sum(len(f["journals"]) for f in summary.facts["settlements"])
    for voucher in vouchers:  # every voucher balances to the cent
        assert sum(Decimal(line["CUAM"]) for line in voucher["lines"]) == 0
    for fact in summary.facts["settlements"]:
        raw = store.raw_document(M3_CONNECTION, "settlement_report", fact["settlement_id"])
        assert open_report(raw).settlement.total.as_string() == fact["total"]  # the raw report is kept
    assert ctx.amazon.calls["getReports"] == 1

    # Reports Amazon finished meanwhile are posted; none already posted is posted again.
    again, _ = _run(deployment, store, settlements, M3_CONNECTION)
    assert again.counts["already_posted"] >= 2
    first = {f["settlement_id"] for f in summary.facts["settlements"]}
    second = {f["settlement_id"] for f in again.facts["settlements"]}
    assert not first & second
    new_journals = sum(len(f["journals"]) for f in again.facts["settlements"])
    assert len(deployment.state("m3").vouchers()) == len(vouchers) + new_journals


def test_settlements_into_acumatica_invoice_mode_never_touch_ar_control(deployment, store):
    orders_summary, _ = _run(deployment, store, orders, ACUMATICA_CONNECTION)
    assert orders_summary.counts["posted"] > 0
    summary, _ = _run(deployment, store, settlements, ACUMATICA_CONNECTION)
    assert summary.counts["posted"] >= 2 and not summary.counts.get("failed")
    batches = deployment.state("acumatica").records["JournalTransaction"]
    assert len(batches) == summary.counts["posted"]
    accounts = {detail["Account"] for batch in batches.values() for detail in batch.get("Details", [])}
    assert "11000" not in accounts  # the AR control account
    assert "1210" in accounts  # the receivable clearing account of the invoice mode
    assert deployment.state("acumatica").open_sessions == 0


def test_orders_become_sales_documents_once_and_unmapped_skus_fail_alone(deployment, store):
    summary, ctx = _run(deployment, store, orders, M3_CONNECTION)
    assert summary.counts["posted"] > 20
    assert ctx.amazon.calls["searchOrders"] <= 2  # items inline: no per-order calls
    failed = store.records(connection=M3_CONNECTION, state="failed")
    assert failed and all("no ERP item for SKU" in record.error for record in failed)
    posted_orders = deployment.state("m3").orders()
    assert len(posted_orders) == summary.counts["posted"]
    assert len(deployment.state("m3").customers()) == 2  # Amazon.com and Amazon.ca

    again, _ = _run(deployment, store, orders, M3_CONNECTION)
    assert again.counts.get("posted", 0) == 0
    assert len(deployment.state("m3").orders()) == len(posted_orders)


def test_a_failed_order_is_replayed_after_its_sku_is_mapped(deployment, store):
    _run(deployment, store, orders, M3_CONNECTION)
    long_skus = {p.sku: p.m3_item for p in products() if len(p.sku) > 30 and p.m3_item}
    before = [
        r
        for r in store.records(connection=M3_CONNECTION, state="failed")
        if any(s in r.error for s in long_skus)
    ]
    assert before, "the sandbox has orders for SKUs longer than M3's alias field"

    text = deployment.config_path.read_text()
    table = ", ".join(f'"{sku}" = "{item}"' for sku, item in long_skus.items())
    deployment.config_path.write_text(
        text.replace('order_type = "AMZ"', f'order_type = "AMZ"\nsku_map = {{ {table} }}')
    )

    registry.install_rebuilders()  # as `ml-connector replay` does
    outcomes = replay_failed(store, connection=M3_CONNECTION)
    replayed = {o.key: o.state for o in outcomes}
    for record in before:
        if all(sku in long_skus for sku in record.error.split("SKU ")[1].split(";")[0].split(", ")):
            assert replayed[record.key] == "posted", record.error
            assert store.record(record.id).erp_id
    assert any(state == "failed" for state in replayed.values())  # SKUs with no ERP item stay failed


def test_replay_of_a_quarantined_settlement_after_the_mapping_is_fixed(deployment, store, tmp_path):
    from importlib.resources import files

    default = files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
    crippled = tmp_path / "rules.toml"
    # Drop the catch-all selling-fee rule: every settlement with a Commission line is quarantined.
    blocks = default.split("[[rule]]")
    catch_all = 'transaction_type = "*"\namount_type = "ItemFees"\namount_description = "*"\n'
    kept = [b for b in blocks if catch_all not in b]
    assert len(kept) < len(blocks)
    crippled.write_text("[[rule]]".join(kept))
    text = deployment.config_path.read_text()
    deployment.config_path.write_text(
        text.replace("split_by_period = true", f'split_by_period = true\nmapping = "{crippled}"')
    )

    summary, _ = _run(deployment, store, settlements, M3_CONNECTION)
    assert summary.counts["failed"] >= 1
    (failed, *_) = store.records(connection=M3_CONNECTION, state="failed")
    assert "Commission" in failed.error and "quarantined" in failed.error
    vouchers = len(deployment.state("m3").vouchers())

    deployment.config_path.write_text(text)  # the mapping is fixed
    registry.install_rebuilders()  # as `ml-connector replay` does
    outcomes = replay_failed(store, connection=M3_CONNECTION)
    assert outcomes and all(o.state == "posted" for o in outcomes)
    assert len(deployment.state("m3").vouchers()) > vouchers
