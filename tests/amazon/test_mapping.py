"""Amazon's four money shapes, the real Finances sample, orders in both API versions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.errors import ConfigurationError
from ml_connector.model import Money
from ml_connector.sources.amazon import marketplace
from ml_connector.sources.amazon.finances import finance_lines, unhandled_lists
from ml_connector.sources.amazon.mapping import money, order_from_2026
from ml_connector.sources.amazon.regions import REGIONS
from ml_connector.sources.amazon.transport import encode_json

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    "shape",
    [
        {"CurrencyCode": "USD", "Amount": "11.01"},  # Orders v0
        {"currencyCode": "USD", "amount": "11.01"},  # Orders 2026, Listings
        {"CurrencyCode": "USD", "CurrencyAmount": Decimal("11.01")},  # Finances v0 (parse_float=Decimal)
        {"currencyCode": "USD", "currencyAmount": Decimal("11.01")},  # Finances 2024
    ],
)
def test_every_money_shape_becomes_money(shape) -> None:
    assert money(shape) == Money(Decimal("11.01"), "USD")


def test_yen_has_no_minor_unit() -> None:
    assert money({"currencyCode": "JPY", "amount": "5980"}) == Money(Decimal(5980), "JPY")


def test_the_real_finances_sample_flattens_without_floats() -> None:
    events = json.loads((SAMPLES / "listFinancialEvents_response.json").read_text(), parse_float=Decimal)
    lines = finance_lines(events["payload"]["FinancialEvents"])
    assert lines and all(isinstance(line.amount.amount, Decimal) for line in lines)
    kinds = {line.transaction_type for line in lines}
    assert {"Order", "Refund", "ServiceFee", "Deal Fee", "CouponPaymentEvent"} <= kinds
    ads = next(line for line in lines if line.amount_type == "Cost of Advertising")
    assert (
        ads.amount == Money(Decimal("137.25"), "USD") and ads.posted_date is not None
    )  # "PostedDate" casing
    assert any(line.amount_description == "GiftWrap" for line in lines)
    assert unhandled_lists(events["payload"]["FinancialEvents"]) == []
    assert unhandled_lists({"NewEventList": [{"x": 1}], "ShipmentEventList": []}) == ["NewEventList"]


def test_order_2026_maps_items_totals_and_status() -> None:
    data = {
        "orderId": "902-1845936-5435065",
        "createdTime": "2026-01-02T10:00:00Z",
        "lastUpdatedTime": "2026-01-02T11:00:00Z",
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "A1VC38T7YXB528"},
        "fulfillment": {"fulfillmentStatus": "CANCELLED", "fulfilledBy": "AMAZON"},
        "proceeds": {"grandTotal": {"amount": "5980", "currencyCode": "JPY"}},
        "orderItems": [
            {
                "orderItemId": "1",
                "quantityOrdered": 2,
                "product": {
                    "asin": "B0",
                    "sellerSku": "S",
                    "price": {"unitPrice": {"amount": "2990", "currencyCode": "JPY"}},
                },
            }
        ],
    }
    order = order_from_2026(data, "JPY")
    assert (order.status, order.fulfillment_channel, order.currency) == ("Canceled", "AFN", "JPY")
    assert order.items[0].item_price == Money(Decimal(5980), "JPY")


def test_marketplaces_and_regions() -> None:
    assert marketplace("A1F83G8C2ARO7P").country_code == "GB"
    assert marketplace("A1VC38T7YXB528").currency == "JPY"
    assert REGIONS["eu"].base_url(sandbox=True) == "https://sandbox.sellingpartnerapi-eu.amazon.com"
    with pytest.raises(ConfigurationError, match="unknown Amazon marketplace"):
        marketplace("NOPE")


def test_decimals_go_out_as_exact_json_numbers() -> None:
    assert (
        encode_json({"value_with_tax": Decimal("19.99"), "n": [Decimal("0.10")]})
        == b'{"value_with_tax": 19.99, "n": [0.1]}'
    )
    with pytest.raises(ValueError):
        encode_json({"x": Decimal("1234567890.123456789")})
