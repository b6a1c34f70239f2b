"""The shipments flow against both ERPs: seller-fulfilled orders shipped in the ERP are confirmed to
Amazon once, with carrier and tracking; Amazon's own orders are left alone; the cursor moves on."""

import dataclasses

import pytest

from ml_connector.errors import TransientError
from ml_connector.flows import orders, shipments
from ml_connector.flows.context import open_context
from ml_connector.flows.documents import sales_document
from ml_connector.flows.orders import order_snapshot
from ml_connector.model.documents import CustomerDocument
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION
from ml_connector.targets.amazon.shipments import ShipmentConfirmationTarget, package_reference

US, GB = "ATVPDKIKX0DER", "A1F83G8C2ARO7P"


def _run(deployment, store, flow, name):
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        return flow.run(ctx), ctx
    finally:
        ctx.close()


def _place(deployment, marketplace_id, channels):
    """New Unshipped orders, each for a SKU the ERPs know (the sandbox picks the product)."""
    amazon, placed = deployment.state("amazon"), []
    for channel in channels:
        while True:
            order = amazon.place_order(marketplace_id, channel=channel)
            product = order.items[0].product
            if product.m3_item and product.acumatica_item and len(product.sku) <= 30:
                break
            amazon.set_order_status(order.order_id, "Canceled")
        placed.append(order.order_id)
    return placed


def _post_as_sales_orders(deployment, store, name, order_ids):
    """Post the orders as ERP sales orders through the protocol, as the orders flow does, with the
    marketplace customer keyed "MKT-<marketplace id>" (what the adapters read shipments by)."""
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        engine, erp_ids = ctx.engine("orders"), {}
        for order_id in order_ids:
            order = ctx.amazon.get_order(order_id)
            market = ctx.marketplace(order.marketplace_id)
            customer = CustomerDocument(
                key=f"MKT-{market.marketplace_id}",
                name=f"Amazon {market.name}",
                currency=market.currency,
                country_code=market.country_code,
            )
            customer_id = engine.post(customer, ctx.target, source={"key": customer.key}).erp_id
            document = sales_document(
                order,
                customer_id=customer_id,
                items=ctx.target.resolve_items([item.sku for item in order.items]),
                kind="sales_order",
                warehouse=ctx.connection.erp_settings.get("warehouse"),
            )
            result = engine.post(document, ctx.target, source=order_snapshot(order))
            assert result.state == "posted", result.error
            erp_ids[order_id] = result.erp_id
        return erp_ids
    finally:
        ctx.close()


def test_m3_delivered_mfn_orders_are_confirmed_once(deployment, store):
    amazon, m3 = deployment.state("amazon"), deployment.state("m3")
    mfn = _place(deployment, US, ["MFN", "MFN", "MFN", "MFN"])
    afn = _place(deployment, US, ["AFN"])
    erp_ids = _post_as_sales_orders(deployment, store, M3_CONNECTION, mfn + afn)
    for order_id in mfn + afn:
        m3.deliver(erp_ids[order_id], carrier="UPS", tracking=f"1Z{order_id[-7:]}")
    by_hand = mfn[-1]
    amazon.set_order_status(by_hand, "Shipped")  # confirmed in Seller Central by a person

    summary, ctx = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["confirmed"] == 3
    assert summary.counts["already_confirmed"] == 1 and summary.counts["skipped"] == 1  # the AFN order
    assert ctx.amazon.calls["confirmShipment"] == 3
    assert ctx.amazon.calls["getOrder"] == 4  # query first: one getOrder per package, none per record
    confirmed = {c["orderId"]: c for c in amazon.confirmed_shipments}
    assert set(confirmed) == set(mfn[:3])
    for order_id in mfn[:3]:
        detail = confirmed[order_id]["packageDetail"]
        assert detail["carrierCode"] == "UPS" and detail["trackingNumber"] == f"1Z{order_id[-7:]}"
        assert detail["packageReferenceId"] == package_reference(f"1Z{order_id[-7:]}")
        assert confirmed[order_id]["marketplaceId"] == US
        assert amazon.order(order_id).status == "Shipped"
        record = store.find_record(
            M3_CONNECTION, "shipment_confirmation", f"SHIP-{order_id}-1Z{order_id[-7:]}"
        )
        assert record.state == "posted"
    assert store.get_cursor(M3_CONNECTION, "shipments")

    again, ctx = _run(deployment, store, shipments, M3_CONNECTION)
    assert not again.counts["confirmed"] and not ctx.amazon.calls["confirmShipment"]
    assert len(amazon.confirmed_shipments) == 3


def test_acumatica_confirmed_shipments_are_confirmed_once(deployment, store):
    amazon, acumatica = deployment.state("amazon"), deployment.state("acumatica")
    mfn = _place(deployment, GB, ["MFN", "MFN"])
    erp_ids = _post_as_sales_orders(deployment, store, ACUMATICA_CONNECTION, mfn)
    for order_id in mfn:
        acumatica.ship_order(erp_ids[order_id], tracking_nbr=f"RM{order_id[-7:]}GB", ship_via="Royal Mail")

    summary, ctx = _run(deployment, store, shipments, ACUMATICA_CONNECTION)
    assert summary.counts["confirmed"] == 2 and not summary.counts["failed"]
    assert ctx.amazon.calls["confirmShipment"] == 2
    for shipment in amazon.confirmed_shipments:
        assert shipment["marketplaceId"] == GB
        assert shipment["packageDetail"]["carrierCode"] == "Royal Mail"
        assert shipment["packageDetail"]["orderItems"][0]["quantity"] == 1
    assert {s["orderId"] for s in amazon.confirmed_shipments} == set(mfn)

    again, ctx = _run(deployment, store, shipments, ACUMATICA_CONNECTION)
    assert not again.counts["confirmed"] and not ctx.amazon.calls["confirmShipment"]
    assert len(amazon.confirmed_shipments) == 2
    assert acumatica.open_sessions == 0


def test_a_canceled_order_fails_alone(deployment, store):
    amazon, m3 = deployment.state("amazon"), deployment.state("m3")
    placed = _place(deployment, US, ["MFN", "MFN"])
    erp_ids = _post_as_sales_orders(deployment, store, M3_CONNECTION, placed)
    for order_id in placed:
        m3.deliver(erp_ids[order_id], tracking=f"1Z{order_id[-7:]}")
    amazon.set_order_status(placed[0], "Canceled")
    summary, _ = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["failed"] == 1 and summary.counts["confirmed"] == 1
    record = store.find_record(M3_CONNECTION, "shipment_confirmation", f"SHIP-{placed[0]}-1Z{placed[0][-7:]}")
    assert record.state == "failed" and "Canceled" in record.error


def test_m3_orders_posted_by_the_orders_flow_are_confirmed(deployment, store):
    """End to end with the real orders flow (its marketplace customers are what M3 reads from)."""
    mfn = _place(deployment, US, ["MFN"])
    deployment.clock.advance(300)  # past Amazon's two-minute rule for searchOrders
    _run(deployment, store, orders, M3_CONNECTION)
    record = store.find_record(M3_CONNECTION, "sales_order", mfn[0])
    deployment.state("m3").deliver(record.erp_id, tracking="1ZFLOW0001")
    summary, _ = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["confirmed"] == 1


def test_a_lost_reply_is_answered_by_amazon_not_by_a_second_confirmation(deployment, store, monkeypatch):
    amazon, m3 = deployment.state("amazon"), deployment.state("m3")
    (order_id,) = _place(deployment, US, ["MFN"])
    erp_ids = _post_as_sales_orders(deployment, store, M3_CONNECTION, [order_id])
    m3.deliver(erp_ids[order_id], tracking="1ZLOSTREPLY")
    original = ShipmentConfirmationTarget.post

    def confirmed_but_reply_lost(self, document):
        original(self, document)
        raise TransientError("connection dropped before Amazon's answer arrived")

    monkeypatch.setattr(ShipmentConfirmationTarget, "post", confirmed_but_reply_lost)
    summary, ctx = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["already_confirmed"] == 1  # the retry asked Amazon first: Shipped
    assert ctx.amazon.calls["confirmShipment"] == 1 and len(amazon.confirmed_shipments) == 1
    record = store.find_record(M3_CONNECTION, "shipment_confirmation", f"SHIP-{order_id}-1ZLOSTREPLY")
    assert record.state == "found_existing" and record.erp_id == package_reference("1ZLOSTREPLY")


def test_erp_orders_amazon_does_not_know_are_skipped(deployment, store):
    """Orders entered in the ERP by hand (a purchase-order reference, or an id Amazon answers 404 for)
    never stop the run and are never confirmed."""
    (order_id,) = _place(deployment, US, ["MFN"])
    _post_as_sales_orders(deployment, store, M3_CONNECTION, [order_id])  # makes the customer too
    customer = store.find_record(M3_CONNECTION, "customer", f"MKT-{US}").erp_id
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        order = ctx.amazon.get_order(order_id)
        template = sales_document(
            order,
            customer_id=customer,
            items=ctx.target.resolve_items([item.sku for item in order.items]),
            kind="sales_order",
            warehouse="100",
        )
        engine, numbers = ctx.engine("manual"), []
        for key in ("PO-4711", "999-0000000-0000000"):
            numbers.append(engine.post(dataclasses.replace(template, key=key), ctx.target).erp_id)
    finally:
        ctx.close()
    for number in numbers:
        deployment.state("m3").deliver(number, tracking=f"1Z{number}")
    summary, ctx = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["skipped"] == 2 and summary.counts["confirmed"] == 0
    # The Amazon order posted alongside was never delivered: nothing else to confirm.
    assert ctx.amazon.calls["getOrder"] == 1  # only the well-formed id is asked about
    assert not deployment.state("amazon").confirmed_shipments


class Killed(BaseException):
    """Stands for a SIGKILL at one protocol step (the engine's checkpoint)."""


def test_a_run_killed_after_confirming_ends_with_one_confirmation(deployment, store):
    amazon, m3 = deployment.state("amazon"), deployment.state("m3")
    placed = _place(deployment, US, ["MFN", "MFN"])
    erp_ids = _post_as_sales_orders(deployment, store, M3_CONNECTION, placed)
    for order_id in placed:
        m3.deliver(erp_ids[order_id], tracking=f"1Z{order_id[-7:]}")

    def kill_after_posting(step):
        if step == "posted":
            raise Killed

    ctx = open_context(
        store,
        deployment.config.connection(M3_CONNECTION),
        clock=deployment.clock,
        checkpoint=kill_after_posting,
    )
    try:
        with pytest.raises(Killed):
            shipments.run(ctx)
    finally:
        ctx.close()
    assert len(amazon.confirmed_shipments) == 1 and store.get_cursor(M3_CONNECTION, "shipments") is None
    deployment.clock.advance(20 * 60)  # the killed run's claim expires

    summary, _ = _run(deployment, store, shipments, M3_CONNECTION)
    assert summary.counts["confirmed"] == 1 and summary.counts["already_confirmed"] == 1
    assert sorted(c["orderId"] for c in amazon.confirmed_shipments) == sorted(placed)
    assert not store.records(connection=M3_CONNECTION, state="pending")
