from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ml_connector.errors import PermanentError
from ml_connector.flows.documents import (
    UnmappedSkus,
    buyer_customer,
    decide,
    marketplace_customer,
    sales_document,
)
from ml_connector.model.money import Money
from ml_connector.model.orders import Address, Order, OrderItem


def _order(status="Shipped", items=None, ship_to=None) -> Order:
    when = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    items = (
        items
        if items is not None
        else (
            OrderItem("1", "MLC-MUG-01A", "B0AAAA", 3, Money.of("10.00", "USD"), Money.of("30.00", "USD")),
            OrderItem("2", "MLC-TEE-01B", "B0BBBB", 1, Money.of("19.99", "USD"), Money.of("19.99", "USD")),
        )
    )
    return Order("111-1", "ATVPDKIKX0DER", when, when, status, "MFN", "USD", tuple(items), ship_to=ship_to)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("Pending", "wait"),
        ("Unshipped", "post"),
        ("Shipped", "post"),
        ("Canceled", "skip"),
        ("Unfulfillable", "skip"),
    ],
)
def test_status_rules(status, action):
    assert decide(_order(status)).action == action


def test_an_order_without_items_waits():
    assert decide(_order(items=())).action == "wait"


def test_sales_document_carries_exact_prices_and_the_order_id_as_key():
    document = sales_document(
        _order(),
        customer_id="AMAZON-US",
        items={"MLC-MUG-01A": "A1", "MLC-TEE-01B": "A2"},
        kind="sales_order",
    )
    assert document.key == "111-1"
    assert [(line.item_id, line.quantity, line.unit_price) for line in document.lines] == [
        ("A1", 3, Money.of("10", "USD")),
        ("A2", 1, Money.of("19.99", "USD")),
    ]
    assert sum(line.unit_price.amount * line.quantity for line in document.lines) == Decimal("49.99")


def test_every_unmapped_sku_is_named_on_that_order_alone():
    with pytest.raises(UnmappedSkus) as caught:
        sales_document(_order(), customer_id="C", items={"MLC-MUG-01A": None}, kind="sales_invoice")
    assert caught.value.skus == ["MLC-MUG-01A", "MLC-TEE-01B"]
    assert "replay" in str(caught.value)


def test_marketplace_customer_key_is_stable_and_short():
    customer = marketplace_customer("ATVPDKIKX0DER", "US", "Amazon.com", "USD")
    assert customer.key == "AMAZON-US"
    assert len(customer.key) <= 10


def test_buyer_customer_needs_pii_and_hashes_the_identity():
    with pytest.raises(PermanentError, match="Restricted Data Token"):
        buyer_customer(_order())
    address = Address(name="Jane Doe", line1="1 Main St", city="Seattle", country_code="US")
    first = buyer_customer(_order(ship_to=address))
    again = buyer_customer(_order(ship_to=address))
    assert first.key == again.key and first.key.startswith("AMZB") and len(first.key) == 20  # 64 bits
    assert "Jane" not in first.key
    assert first.buyer and first.name == "Jane Doe"
