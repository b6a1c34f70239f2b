"""The stock & price flow against both ERPs: only what differs is pushed (a few as patches, many as
one feed whose report is recorded per SKU), prices only in the marketplace's currency, and a second
run with nothing changed pushes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from ml_connector.flows import items, stock_price
from ml_connector.flows.context import open_context
from ml_connector.model.money import Money
from ml_connector.model.orders import StockLevel
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION
from ml_connector.sources.amazon.resources import ListingState
from ml_connector.targets.amazon.listings import ListingUpdate

US, CA, GB = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1F83G8C2ARO7P"
WRITES = ("patchListingsItem", "createFeed")


def _run(deployment, store, flow, name, patch=None):
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        if patch:
            patch(ctx)
        return flow.run(ctx), ctx
    finally:
        ctx.close()


def _mapped(name):
    field = "m3_item" if name == M3_CONNECTION else "acumatica_item"
    return [p for p in products() if getattr(p, field) and (name != M3_CONNECTION or len(p.sku) <= 30)]


def test_m3_a_few_changes_go_as_patches_and_unmapped_skus_are_left_alone(deployment, store):
    _run(deployment, store, items, M3_CONNECTION)
    first, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert not any(ctx.amazon.calls[op] for op in WRITES)  # Amazon already shows the ERP's stock
    assert first.counts["unchanged"] == 2 * len(_mapped(M3_CONNECTION))

    amazon = deployment.state("amazon")
    drifted = [p.sku for p in _mapped(M3_CONNECTION)[:3]]
    unmapped = next(p.sku for p in products() if p.m3_item is None)
    for sku in [*drifted, unmapped]:
        amazon.listings[(sku, US)].quantity += 7
    second, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert second.counts["updated"] == 3
    assert ctx.amazon.calls["patchListingsItem"] == 3 and not ctx.amazon.calls["createFeed"]
    catalogue = {p.sku: p for p in products()}
    for sku in drifted:
        assert amazon.listings[(sku, US)].quantity == catalogue[sku].on_hand
        record = store.find_record(M3_CONNECTION, "listing_update", f"LST-{US}-{sku}-1")
        assert record.state == "posted" and record.source["quantity"] == catalogue[sku].on_hand
        assert record.source["price"] is None  # M3 gives no price: quantity only
    assert amazon.listings[(unmapped, US)].quantity == catalogue[unmapped].on_hand + 7
    patches = amazon.listing_patches[-3:]
    assert all(p["patches"][0]["path"] == "/attributes/fulfillment_availability" for p in patches)

    # Nothing changed since: nothing is pushed, no write call at all.
    third, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert not any(ctx.amazon.calls[op] for op in WRITES) and not third.counts["updated"]
    assert dict(ctx.amazon.calls) == {"searchListingsItems": 4}

    # The same listing drifting again gets the next key, never a settled one.
    amazon.listings[(drifted[0], US)].quantity = 0
    _run(deployment, store, stock_price, M3_CONNECTION)
    assert store.find_record(M3_CONNECTION, "listing_update", f"LST-{US}-{drifted[0]}-2").state == "posted"


def test_m3_many_changes_go_as_one_feed_recorded_per_sku(deployment, store):
    amazon = deployment.state("amazon")
    drifted = [p.sku for p in _mapped(M3_CONNECTION)[:8]]
    for sku in drifted:
        amazon.listings[(sku, CA)].quantity = 1000
    gone = drifted[-1]

    def listing_removed_while_the_feed_waits(ctx):
        submit = ctx.amazon.submit_listings_feed

        def submit_then_remove(messages, marketplace_ids):
            feed_id = submit(messages, marketplace_ids)
            del amazon.listings[(gone, CA)]  # the seller deleted it in Seller Central meanwhile
            return feed_id

        ctx.amazon.submit_listings_feed = submit_then_remove

    summary, ctx = _run(deployment, store, stock_price, M3_CONNECTION, listing_removed_while_the_feed_waits)
    assert ctx.amazon.calls["createFeed"] == 1 and not ctx.amazon.calls["patchListingsItem"]
    assert summary.counts["updated"] == 7 and summary.counts["failed"] == 1
    (feed,) = summary.facts["feeds"]
    assert feed["state"] == "posted"
    assert store.find_record(M3_CONNECTION, "listings_feed", feed["key"]).erp_id == feed["feed_id"]
    messages = amazon.feeds_received[-1]["document"]["messages"]
    assert sorted(m["sku"] for m in messages) == sorted(drifted)
    for sku in drifted:
        record = store.find_record(M3_CONNECTION, "listing_update", f"LST-{CA}-{sku}-1")
        if sku == gone:
            assert record.state == "failed" and "does not exist" in record.error
        else:
            assert record.state == "posted" and record.erp_id == f"feed {feed['feed_id']}"
            assert amazon.listings[(sku, CA)].quantity != 1000
    again, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert not any(ctx.amazon.calls[op] for op in WRITES) and not again.counts["updated"]


def test_acumatica_prices_and_quantities_in_the_marketplace_currency(deployment, store):
    amazon = deployment.state("amazon")
    mapped = _mapped(ACUMATICA_CONNECTION)
    for p in mapped:  # every price off on Amazon: one feed for all of them
        amazon.listings[(p.sku, GB)].price = Decimal("1.00")
    first, ctx = _run(deployment, store, stock_price, ACUMATICA_CONNECTION)  # no items run: resolves itself
    assert first.counts["updated"] == len(mapped) and not first.counts["failed"]
    assert ctx.amazon.calls["createFeed"] == 1 and not ctx.amazon.calls["patchListingsItem"]
    erp = {lvl.sku: lvl for lvl in _levels(deployment, store)}
    for p in mapped:  # Amazon now shows the ERP's price (GBP) and quantity
        listing = amazon.listings[(p.sku, GB)]
        assert listing.price == erp[p.sku].price.amount and listing.quantity == erp[p.sku].quantity
    body = amazon.feeds_received[-1]["document"]["messages"][0]["patches"][0]["value"][0]
    assert body["currency"] == "GBP" and body["marketplace_id"] == GB
    again, ctx = _run(deployment, store, stock_price, ACUMATICA_CONNECTION)
    assert not any(ctx.amazon.calls[op] for op in WRITES) and again.counts["unchanged"] == len(mapped)
    assert deployment.state("acumatica").open_sessions == 0


def _levels(deployment, store):
    ctx = open_context(store, deployment.config.connection(ACUMATICA_CONNECTION), clock=deployment.clock)
    try:
        return ctx.target.stock_levels([p.sku for p in products()])
    finally:
        ctx.close()


def test_wanted_sends_only_what_differs_and_never_a_foreign_currency_price():
    listing = ListingState("SKU-1", CA, "B0X", Money(Decimal("10.00"), "CAD"), 5)
    same = StockLevel("SKU-1", "ITEM", 5, Money(Decimal("10"), "CAD"))
    assert stock_price.wanted(same, listing, "CAD") is None
    foreign = StockLevel("SKU-1", "ITEM", 6, Money(Decimal("99.00"), "USD"))
    update = stock_price.wanted(foreign, listing, "CAD")
    assert (update.quantity, update.price) == (6, None)
    repriced = StockLevel("SKU-1", "ITEM", 5, Money(Decimal("12.499"), "CAD"))
    update = stock_price.wanted(repriced, listing, "CAD")
    assert (update.quantity, update.price) == (None, Money(Decimal("12.50"), "CAD"))
    fba = ListingState("SKU-1", CA, "B0X", Money(Decimal("10.00"), "CAD"), None)
    assert stock_price.wanted(StockLevel("SKU-1", "ITEM", 50), fba, "CAD") is None  # Amazon counts FBA stock
    assert ListingUpdate("k", "SKU-1", CA, 5, None).shown_by(listing)


def test_a_feed_still_processing_is_recorded_by_the_next_run(deployment, store, monkeypatch):
    amazon = deployment.state("amazon")
    drifted = [p.sku for p in _mapped(M3_CONNECTION)[:6]]
    for sku in drifted:
        amazon.listings[(sku, US)].quantity = 999
    monkeypatch.setattr(stock_price, "FEED_PATIENCE", timedelta(0))  # do not wait for Amazon
    first, _ = _run(deployment, store, stock_price, M3_CONNECTION)
    assert first.counts["waiting"] == 6 and any("still being processed" in n for n in first.notes)
    assert store.find_record(M3_CONNECTION, "listing_update", f"LST-{US}-{drifted[0]}-1") is None
    deployment.clock.advance(120)  # Amazon processes the feed meanwhile
    second, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert second.counts["updated"] == 6 and not ctx.amazon.calls["createFeed"]
    for sku in drifted:
        assert store.find_record(M3_CONNECTION, "listing_update", f"LST-{US}-{sku}-1").state == "posted"


class Killed(BaseException):
    """Stands for a SIGKILL at one protocol step (the engine's checkpoint)."""


def test_a_run_killed_mid_push_leaves_nothing_pending_and_nothing_sent_twice(deployment, store):
    amazon = deployment.state("amazon")
    drifted = [p.sku for p in _mapped(M3_CONNECTION)[:2]]
    for sku in drifted:
        amazon.listings[(sku, US)].quantity = 555

    def kill_after_posting(step):
        if step == "posted":  # Amazon took the patch; the store never heard
            raise Killed

    ctx = open_context(
        store,
        deployment.config.connection(M3_CONNECTION),
        clock=deployment.clock,
        checkpoint=kill_after_posting,
    )
    try:
        with pytest.raises(Killed):
            stock_price.run(ctx)
    finally:
        ctx.close()
    pending = store.records(connection=M3_CONNECTION, state="pending")
    assert [r.key for r in pending] == [f"LST-{US}-{drifted[0]}-1"]
    deployment.clock.advance(20 * 60)  # the killed run's claim expires

    summary, ctx = _run(deployment, store, stock_price, M3_CONNECTION)
    assert summary.counts["updated"] == 2
    assert ctx.amazon.calls["patchListingsItem"] == 1  # only the SKU the killed run never reached
    assert ctx.amazon.calls["getListingsItem"] == 1  # the leftover: asked again, found applied
    assert not store.records(connection=M3_CONNECTION, state="pending")
    assert store.find_record(M3_CONNECTION, "listing_update", pending[0].key).state == "found_existing"
    assert [p["sku"] for p in amazon.listing_patches] == drifted
