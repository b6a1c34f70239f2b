"""The items flow against both ERPs: SKUs from listings and orders matched, the unmatched reported
alone with their closest ERP items, the map kept for the stock & price flow."""

import pytest

from ml_connector.engine.replay import replay_record
from ml_connector.flows import items, orders, registry
from ml_connector.flows.context import open_context
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION


def _run(deployment, store, flow, name):
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        return flow.run(ctx), ctx
    finally:
        ctx.close()


NO_ITEM = {p.sku for p in products() if p.m3_item is None}
TOO_LONG_FOR_M3_ALIAS = {p.sku for p in products() if len(p.sku) > 30}


@pytest.mark.parametrize(
    ("name", "unmapped"),
    [(M3_CONNECTION, NO_ITEM | TOO_LONG_FOR_M3_ALIAS), (ACUMATICA_CONNECTION, NO_ITEM)],
)
def test_skus_are_matched_and_the_unmatched_fail_alone_with_candidates(deployment, store, name, unmapped):
    summary, ctx = _run(deployment, store, items, name)
    assert set(summary.facts["unmapped"]) == unmapped
    assert summary.counts["mapped"] == len(products()) - len(unmapped)
    assert summary.counts["unmapped"] == len(unmapped)
    # Twenty SKUs per searchListingsItems call: two calls per marketplace for 40 SKUs.
    assert ctx.amazon.calls["searchListingsItems"] == 2 * len(ctx.connection.marketplaces)

    records = {r.key: r for r in store.records(connection=name, flow="items")}
    assert len(records) == len(products())
    for sku in unmapped:
        record = records[sku]
        assert record.state == "failed"
        assert "closest ERP items:" in record.error and "replay" in record.error
        assert any(sku in note for note in summary.notes)
    mapped = [r for r in records.values() if r.key not in unmapped]
    assert all(r.state == "found_existing" and r.erp_id for r in mapped)
    catalogue = {p.sku: p for p in products()}
    expected = "m3_item" if name == M3_CONNECTION else "acumatica_item"
    assert all(r.erp_id == getattr(catalogue[r.key], expected) for r in mapped)

    stored = items.stored_map(store, name)
    assert {sku for sku, item in stored["items"].items() if not item} == unmapped
    assert stored["asins"]["MLC-MUG-01A"] == catalogue["MLC-MUG-01A"].asin


def test_second_run_changes_nothing_and_order_skus_are_included(deployment, store):
    _run(deployment, store, orders, M3_CONNECTION)
    first, _ = _run(deployment, store, items, M3_CONNECTION)
    before = {(r.key, r.state, r.erp_id) for r in store.records(connection=M3_CONNECTION, flow="items")}
    # Amazon drops a listing: the SKU still appears in recorded orders, so it stays in the map.
    state = deployment.state("amazon")
    sold = {
        item["sku"]
        for r in store.records(connection=M3_CONNECTION, flow="orders")
        if isinstance(r.source, dict)
        for item in r.source.get("items", ())
    }
    dropped = sorted(sold - NO_ITEM - TOO_LONG_FOR_M3_ALIAS)[0]
    for key in [k for k in state.listings if k[0] == dropped]:
        del state.listings[key]
    second, _ = _run(deployment, store, items, M3_CONNECTION)
    after = {(r.key, r.state, r.erp_id) for r in store.records(connection=M3_CONNECTION, flow="items")}
    assert after == before
    assert second.counts == first.counts
    assert items.stored_map(store, M3_CONNECTION)["items"][dropped]


def test_a_sku_mapped_later_is_found_on_replay_and_in_the_next_run(deployment, store):
    first, _ = _run(deployment, store, items, M3_CONNECTION)
    long_skus = {p.sku: p.m3_item for p in products() if p.sku in TOO_LONG_FOR_M3_ALIAS}
    table = ", ".join(f'"{sku}" = "{item}"' for sku, item in long_skus.items())
    text = deployment.config_path.read_text(encoding="utf-8")  # what a person adds: the connector map
    deployment.config_path.write_text(
        text.replace('order_type = "AMZ"', f'order_type = "AMZ"\nsku_map = {{ {table} }}'), "utf-8"
    )
    registry.install_rebuilders()  # as `ml-connector replay` does
    for sku, item in long_skus.items():
        record = store.find_record(M3_CONNECTION, "sku_item", sku)
        outcome = replay_record(store, record.id)
        assert outcome.state == "found_existing" and outcome.result.erp_id == item
    # The SKUs without any ERP item stay failed on replay, still naming their candidates.
    (outcome,) = [replay_record(store, store.find_record(M3_CONNECTION, "sku_item", sorted(NO_ITEM)[0]).id)]
    assert outcome.state == "failed" and "closest ERP items" in outcome.result.error
    second, _ = _run(deployment, store, items, M3_CONNECTION)
    assert second.counts["mapped"] == first.counts["mapped"] + 2
    assert set(second.facts["unmapped"]) == NO_ITEM


def test_a_sku_is_matched_by_its_asin_and_its_stock_read_through_it(deployment, store):
    """An ERP that keeps the ASIN as the item's alias: the SKU without an alias of its own maps."""
    from ml_connector.flows import stock_price
    from ml_connector.sandbox.m3.world import ALIAS_QUALIFIER, ALIAS_TYPE

    product = next(p for p in products() if p.m3_item is None)
    m3 = deployment.state("m3").world
    m3.aliases.append(
        {"ALWT": str(ALIAS_TYPE), "ALWQ": ALIAS_QUALIFIER, "POPN": product.asin, "ITNO": "A10003"}
    )
    summary, _ = _run(deployment, store, items, M3_CONNECTION)
    assert summary.counts["mapped_by_asin"] == 1 and product.sku not in summary.facts["unmapped"]
    assert summary.facts["via_asin"] == {product.sku: product.asin}
    assert store.find_record(M3_CONNECTION, "sku_item", product.sku).erp_id == "A10003"

    listing = deployment.state("amazon").listings[(product.sku, "ATVPDKIKX0DER")]
    listing.quantity = 12345
    pushed, _ = _run(deployment, store, stock_price, M3_CONNECTION)
    assert pushed.counts["updated"] == 2  # US and CA now show the stock of the ASIN's item
    a10003 = next(p for p in products() if p.m3_item == "A10003")
    assert listing.quantity == a10003.on_hand
