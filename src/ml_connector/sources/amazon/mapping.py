"""SP-API payloads into the canonical model.

Amazon has four money shapes (SP-API.md §7): Orders v0 ``{CurrencyCode, Amount: "11.01"}``, Orders
2026 and Listings ``{currencyCode, amount: "5980"}``, Finances v0 ``{CurrencyCode, CurrencyAmount:
25.37}`` and Finances 2024 ``{currencyCode, currencyAmount: 25.37}``. ``money`` reads all of them
into Money; JSON numbers arrive as Decimal because responses are parsed with parse_float=Decimal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ml_connector.model import Address, Money, Order, OrderItem

# Orders 2026 fulfillment statuses in the v0 vocabulary the canonical Order uses.
STATUS_FROM_2026 = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
CHANNEL_FROM_2026 = {"AMAZON": "AFN", "MERCHANT": "MFN"}


def money(value: Any) -> Money | None:
    """Any of Amazon's four money shapes as Money; None when absent."""
    if not isinstance(value, dict):
        return None
    currency = value.get("currencyCode") or value.get("CurrencyCode") or ""  # Money rejects "" by name
    for key in ("amount", "Amount", "currencyAmount", "CurrencyAmount"):
        if key in value and value[key] is not None:
            raw = value[key]
            amount = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
            return Money(amount, currency)
    return None


def timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return required_timestamp(value)


def required_timestamp(value: str) -> datetime:
    """A timestamp the API always sends (an order's created and updated times, an echoed bound)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _address_2026(data: dict | None) -> Address | None:
    if not data:
        return None
    return Address(
        name=data.get("name"),
        line1=data.get("addressLine1"),
        line2=data.get("addressLine2"),
        city=data.get("city"),
        state_or_region=data.get("stateOrRegion"),
        postal_code=data.get("postalCode"),
        country_code=data.get("countryCode"),
        phone=data.get("phone"),
    )


def address_v0(data: dict | None) -> Address | None:
    if not data:
        return None
    return Address(
        name=data.get("Name"),
        line1=data.get("AddressLine1"),
        line2=data.get("AddressLine2"),
        city=data.get("City"),
        state_or_region=data.get("StateOrRegion"),
        postal_code=data.get("PostalCode"),
        country_code=data.get("CountryCode"),
        phone=data.get("Phone"),
    )


def _breakdown(breakdowns: list | None, kind: str) -> Money | None:
    for entry in breakdowns or ():
        if entry.get("type") == kind:
            return money(entry.get("subtotal"))
    return None


def order_from_2026(data: dict, currency: str) -> Order:
    """An Orders 2026-01-01 order (items inline). ``currency`` is the marketplace's, used when
    the order carries no amounts at all (e.g. a pending order)."""
    items = []
    for item in data.get("orderItems", ()):
        product = item.get("product", {})
        quantity = int(item.get("quantityOrdered", 0))
        unit = money((product.get("price") or {}).get("unitPrice")) or Money.zero(currency)
        breakdowns = (item.get("proceeds") or {}).get("breakdowns")
        items.append(
            OrderItem(
                order_item_id=str(item["orderItemId"]),
                sku=product.get("sellerSku", ""),
                asin=product.get("asin"),
                quantity=quantity,
                unit_price=unit,
                item_price=_breakdown(breakdowns, "ITEM") or Money(unit.amount * quantity, unit.currency),
                item_tax=_breakdown(breakdowns, "TAX"),
                shipping_price=_breakdown(breakdowns, "SHIPPING"),
                promotion_discount=_breakdown(breakdowns, "DISCOUNT"),
                title=product.get("title"),
            )
        )
    channel = data.get("salesChannel", {})
    fulfillment = data.get("fulfillment") or {}
    total = money((data.get("proceeds") or {}).get("grandTotal"))
    order_currency = total.currency if total else (items[0].unit_price.currency if items else currency)
    recipient = (data.get("recipient") or {}).get("deliveryAddress")
    aliases = {a.get("aliasType"): a.get("aliasId") for a in data.get("orderAliases", ())}
    return Order(
        amazon_order_id=data["orderId"],
        marketplace_id=channel.get("marketplaceId", ""),
        purchase_date=required_timestamp(data["createdTime"]),
        last_updated=required_timestamp(data["lastUpdatedTime"]),
        status=STATUS_FROM_2026.get(fulfillment.get("fulfillmentStatus", ""), "Pending"),
        fulfillment_channel=CHANNEL_FROM_2026.get(fulfillment.get("fulfilledBy", ""), "MFN"),
        currency=order_currency,
        items=tuple(items),
        order_total=total,
        seller_order_id=aliases.get("SELLER_ORDER_ID"),
        ship_to=_address_2026(recipient),
        buyer_email=(data.get("buyer") or {}).get("buyerEmail"),
    )


def order_from_v0(data: dict, items: list[dict], currency: str) -> Order:
    """An Orders v0 order plus its getOrderItems items."""
    mapped = []
    for item in items:
        quantity = int(item.get("QuantityOrdered", 0))
        item_price = money(item.get("ItemPrice")) or Money.zero(currency)
        unit = Money(item_price.amount / quantity, item_price.currency) if quantity else item_price
        mapped.append(
            OrderItem(
                order_item_id=str(item["OrderItemId"]),
                sku=item.get("SellerSKU", ""),
                asin=item.get("ASIN"),
                quantity=quantity,
                unit_price=unit.quantized(),
                item_price=item_price,
                item_tax=money(item.get("ItemTax")),
                shipping_price=money(item.get("ShippingPrice")),
                shipping_tax=money(item.get("ShippingTax")),
                promotion_discount=money(item.get("PromotionDiscount")),
                title=item.get("Title"),
            )
        )
    total = money(data.get("OrderTotal"))
    buyer = data.get("BuyerInfo") or {}
    return Order(
        amazon_order_id=data["AmazonOrderId"],
        marketplace_id=data.get("MarketplaceId", ""),
        purchase_date=required_timestamp(data["PurchaseDate"]),
        last_updated=required_timestamp(data["LastUpdateDate"]),
        status=data["OrderStatus"],
        fulfillment_channel=data.get("FulfillmentChannel", "MFN"),
        currency=total.currency if total else currency,
        items=tuple(mapped),
        order_total=total,
        seller_order_id=data.get("SellerOrderId"),
        ship_to=address_v0(data.get("ShippingAddress")),
        buyer_email=buyer.get("BuyerEmail"),
    )
