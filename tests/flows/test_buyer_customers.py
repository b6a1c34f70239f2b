"""Buyer customer mode: one ERP customer per buyer, in each ERP, every document on its own buyer's.

500 buyers per ERP (each one order, the buyer's own name and address, as Amazon gives them with
PII), posted by the orders flow's poster through the posting protocol into the M3 and Acumatica
sandboxes; then the sandboxes themselves are read back.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ml_connector.flows.context import FlowSummary, open_context
from ml_connector.flows.documents import buyer_customer, buyer_key
from ml_connector.flows.orders import OrderPoster
from ml_connector.model import Money
from ml_connector.model.orders import Address, Order, OrderItem
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION
from ml_connector.targets.acumatica.documents import CUSTOMER_ID_LENGTH, buyer_customer_id

BUYERS = 500
_FIRST = ("Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ida", "Jo", "Kai", "Lu", "Mo", "Ned")
_LAST = ("Abel", "Baker", "Chen", "Diaz", "Evans", "Fox", "Gray", "Holt", "Ito", "Jung", "Khan")


def buyer_orders(marketplace_id: str, currency: str, country: str, sku: str, start: int) -> list[Order]:
    """One order per buyer; names repeat across buyers (as real names do), e-mails never."""
    now = datetime.now(UTC)
    orders = []
    for n in range(start, start + BUYERS):
        name = f"{_FIRST[n % len(_FIRST)]} {_LAST[n // len(_FIRST) % len(_LAST)]} {n}"
        price = Money(Decimal("10.00") + Decimal(n % 50), currency)
        orders.append(
            Order(
                amazon_order_id=f"{200 + n % 700:03d}-{n:07d}-{n * 7 % 10**7:07d}",
                marketplace_id=marketplace_id,
                purchase_date=now,
                last_updated=now,
                status="Shipped",
                fulfillment_channel="AFN",
                currency=currency,
                items=(OrderItem(f"{n:014d}", sku, None, 1, price, price),),
                ship_to=Address(
                    name, f"{n} High Street", None, "Town", None, f"{n % 90000 + 10000}", country
                ),
                buyer_email=f"buyer{n}@marketplace.amazon.example",
            )
        )
    return orders


def post_as_buyers(deployment, store, name: str, orders: list[Order]) -> FlowSummary:
    connection = deployment.config.connection(name).model_copy(update={"customer_mode": "buyer"})
    ctx = open_context(store, connection, clock=deployment.clock)
    try:
        poster = OrderPoster(ctx)
        summary = FlowSummary("orders", name)
        for order in orders:
            poster.post(order, summary)
        return summary
    finally:
        ctx.close()


def mapped_sku(deployment, store, name: str) -> str:
    ctx = open_context(store, deployment.config.connection(name), clock=deployment.clock)
    try:
        found = ctx.target.resolve_items([p.sku for p in products()])
    finally:
        ctx.close()
    return next(sku for sku, item in found.items() if item)


@pytest.mark.timeout(900)  # hundreds of postings: minutes on a loaded 2-core machine
def test_500_buyers_are_500_m3_customers_each_order_on_its_own(deployment, store) -> None:
    orders = buyer_orders("ATVPDKIKX0DER", "USD", "US", mapped_sku(deployment, store, M3_CONNECTION), 0)
    summary = post_as_buyers(deployment, store, M3_CONNECTION, orders)
    assert summary.counts["posted"] == BUYERS, summary
    m3 = deployment.state("m3")
    customers = {c["CUNO"]: c for c in m3.customers()}
    assert len(customers) == BUYERS
    by_key = {c["YREF"]: c for c in customers.values()}
    assert len(by_key) == BUYERS  # the 64-bit keys, one per buyer
    heads = {o["head"]["CUOR"]: o["head"] for o in m3.orders()}
    assert len(heads) == BUYERS
    for order in orders:
        customer = customers[heads[order.amazon_order_id]["CUNO"]]
        assert customer["YREF"] == buyer_key(order.buyer_email)
        assert customer["CUNM"] == order.ship_to.name[:36]  # the buyer's own name, on its own customer
    assert Counter(h["CUNO"] for h in heads.values()).most_common(1)[0][1] == 1

    again = post_as_buyers(deployment, store, M3_CONNECTION, orders)  # a rerun adds nothing
    assert again.counts["already_posted"] == BUYERS and len(m3.customers()) == BUYERS


@pytest.mark.timeout(900)  # hundreds of postings: minutes on a loaded 2-core machine
def test_500_buyers_are_500_acumatica_customers_each_invoice_on_its_own(deployment, store) -> None:
    sku = mapped_sku(deployment, store, ACUMATICA_CONNECTION)
    orders = buyer_orders("A1F83G8C2ARO7P", "GBP", "GB", sku, 10_000)
    summary = post_as_buyers(deployment, store, ACUMATICA_CONNECTION, orders)
    assert summary.counts["posted"] == BUYERS, summary
    acumatica = deployment.state("acumatica")
    customers = {c["CustomerID"]: c for c in acumatica.records["Customer"].values()}
    buyers = {number: c for number, c in customers.items() if c.get("AccountRef", "").startswith("AMZB")}
    assert len(buyers) == BUYERS
    assert all(len(number) <= CUSTOMER_ID_LENGTH for number in buyers)
    invoices = {i["CustomerOrder"]: i for i in acumatica.records["SalesInvoice"].values()}
    assert len(invoices) == BUYERS
    for order in orders:
        customer = customers[invoices[order.amazon_order_id]["CustomerID"]]
        assert customer["AccountRef"] == buyer_key(order.buyer_email)
        assert customer["CustomerName"] == order.ship_to.name
    assert Counter(i["CustomerID"] for i in invoices.values()).most_common(1)[0][1] == 1
    assert not any(number == "AMZ-GB" for number in customers)  # no buyer lands on a country customer


def test_a_taken_customer_id_moves_the_buyer_to_the_next_candidate(deployment, store) -> None:
    """Two buyers whose first CustomerID candidates collide: the second one takes the next one
    (planted: another customer already holds the first candidate of this buyer's key)."""
    sku = mapped_sku(deployment, store, ACUMATICA_CONNECTION)
    [order] = buyer_orders("A1F83G8C2ARO7P", "GBP", "GB", sku, 20_000)[:1]
    key = buyer_customer(order).key
    first = buyer_customer_id(key)
    ctx = open_context(store, deployment.config.connection(ACUMATICA_CONNECTION), clock=deployment.clock)
    try:
        ctx.target.client.put(
            "Customer",
            {
                "CustomerID": first,
                "CustomerName": "Someone Else",
                "CustomerClass": "DEFAULT",
                "AccountRef": "X",
            },
            insert_only=True,
        )
    finally:
        ctx.close()
    post_as_buyers(deployment, store, ACUMATICA_CONNECTION, [order])
    acumatica = deployment.state("acumatica")
    [invoice] = [
        i for i in acumatica.records["SalesInvoice"].values() if i["CustomerOrder"] == order.amazon_order_id
    ]
    assert invoice["CustomerID"] == buyer_customer_id(key, 1)
    holders = {c["CustomerID"]: c for c in acumatica.records["Customer"].values()}
    assert holders[first]["CustomerName"] == "Someone Else"  # untouched
    assert holders[invoice["CustomerID"]]["CustomerName"] == order.ship_to.name


@pytest.mark.parametrize("n", [2, 5000])
def test_buyer_keys_hold_64_bits_and_fit_the_m3_reference(n: int) -> None:
    keys = {buyer_key(f"buyer{i}@marketplace.amazon.example") for i in range(n)}
    assert len(keys) == n
    assert all(len(key) == 20 and int(key[4:], 16) >= 0 for key in keys)
