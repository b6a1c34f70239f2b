"""JSON views of the sandbox's records, in the exact shapes of Amazon's models.

Money shapes differ per API (SP-API.md §7): Orders v0 ``Amount`` string, Orders 2026 ``amount``
string, Finances ``CurrencyAmount`` / ``currencyAmount`` JSON numbers (emitted from Decimal via
float, which round-trips exactly for two-decimal amounts).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from ml_connector.model import SettlementLine
from ml_connector.sandbox.amazon.world import FinanceEvent, SandboxOrder, SandboxSettlement

STATUS_TO_2026 = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _amount(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def money_2026(value: Decimal, currency: str) -> dict:
    return {"amount": _amount(value), "currencyCode": currency}


def money_v0(value: Decimal, currency: str) -> dict:
    return {"CurrencyCode": currency, "Amount": _amount(value)}


def currency_v0(value: Decimal, currency: str) -> dict:
    return {"CurrencyCode": currency, "CurrencyAmount": float(value)}


def currency_2024(value: Decimal, currency: str) -> dict:
    return {"currencyCode": currency, "currencyAmount": float(value)}


# -- Orders 2026-01-01 -----------------------------------------------------------------------------


def order_2026(order: SandboxOrder, included: set[str]) -> dict:
    cur = order.currency
    pending = order.status == "Pending"
    data: dict = {
        "orderId": order.order_id,
        "orderAliases": [{"aliasId": order.seller_order_id, "aliasType": "SELLER_ORDER_ID"}],
        "createdTime": iso(order.purchase),
        "lastUpdatedTime": iso(order.last_updated),
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.marketplace.marketplace_id,
            "marketplaceName": order.marketplace.name,
        },
        "orderItems": [],
    }
    for item in order.items:
        entry: dict = {
            "orderItemId": item.order_item_id,
            "quantityOrdered": item.quantity,
            "product": {
                "asin": item.product.asin,
                "title": item.product.title,
                "sellerSku": item.product.sku,
                "condition": {"conditionType": "New"},
                "price": {"unitPrice": money_2026(item.unit_price, cur)},
            },
        }
        if "PROCEEDS" in included and not pending:
            breakdowns = [{"type": "ITEM", "subtotal": money_2026(item.item_price, cur)}]
            if item.tax:
                breakdowns.append({"type": "TAX", "subtotal": money_2026(item.tax, cur)})
            if item.shipping:
                breakdowns.append({"type": "SHIPPING", "subtotal": money_2026(item.shipping, cur)})
            entry["proceeds"] = {
                "proceedsTotal": money_2026(item.item_price + item.tax + item.shipping, cur),
                "breakdowns": breakdowns,
            }
        if "FULFILLMENT" in included:
            shipped = item.quantity if order.status == "Shipped" else 0
            entry["fulfillment"] = {
                "quantityFulfilled": shipped,
                "quantityUnfulfilled": item.quantity - shipped,
            }
        data["orderItems"].append(entry)
    if "FULFILLMENT" in included:
        data["fulfillment"] = {
            "fulfillmentStatus": STATUS_TO_2026[order.status],
            "fulfilledBy": "AMAZON" if order.channel == "AFN" else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
        }
    if "PROCEEDS" in included and not pending:
        data["proceeds"] = {"grandTotal": money_2026(order.total, cur)}
    if "BUYER" in included:
        data["buyer"] = {"buyerName": order.buyer_name, "buyerEmail": order.buyer_email}
    if "RECIPIENT" in included:
        data["recipient"] = {"deliveryAddress": _address_2026(order)}
    if "PACKAGES" in included and order.packages:
        data["packages"] = order.packages
    return data


def _address_2026(order: SandboxOrder) -> dict:
    return {
        "name": order.buyer_name,
        "addressLine1": order.street,
        "city": order.city,
        "postalCode": order.postal_code,
        "countryCode": order.marketplace.country_code,
        "addressType": "RESIDENTIAL",
    }


# -- Orders v0 -------------------------------------------------------------------------------------


def order_v0(order: SandboxOrder, *, pii: set[str]) -> dict:
    """``pii`` holds the RDT data elements granted (shippingAddress, buyerInfo); without them the
    PII fields are left out and only City/PostalCode/CountryCode remain, as Amazon does."""
    cur = order.currency
    shipped = sum(i.quantity for i in order.items) if order.status == "Shipped" else 0
    data: dict = {
        "AmazonOrderId": order.order_id,
        "SellerOrderId": order.seller_order_id,
        "PurchaseDate": iso(order.purchase),
        "LastUpdateDate": iso(order.last_updated),
        "OrderStatus": order.status,
        "FulfillmentChannel": order.channel,
        "SalesChannel": order.marketplace.name,
        "ShipServiceLevel": "Std Domestic",
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": sum(i.quantity for i in order.items) - shipped,
        "PaymentMethod": "Other",
        "MarketplaceId": order.marketplace.marketplace_id,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "IsBusinessOrder": False,
        "IsPrime": order.channel == "AFN",
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "ShippingAddress": {
            "City": order.city,
            "PostalCode": order.postal_code,
            "CountryCode": order.marketplace.country_code,
        },
    }
    if order.status != "Pending":
        data["OrderTotal"] = money_v0(order.total, cur)
    if "shippingAddress" in pii:
        data["ShippingAddress"].update(
            {"Name": order.buyer_name, "AddressLine1": order.street, "AddressType": "Residential"}
        )
    if "buyerInfo" in pii:
        data["BuyerInfo"] = {"BuyerEmail": order.buyer_email, "BuyerName": order.buyer_name}
    return data


def items_v0(order: SandboxOrder) -> list[dict]:
    cur = order.currency
    result = []
    for item in order.items:
        entry: dict = {
            "ASIN": item.product.asin,
            "SellerSKU": item.product.sku,
            "OrderItemId": item.order_item_id,
            "Title": item.product.title,
            "QuantityOrdered": item.quantity,
            "QuantityShipped": item.quantity if order.status == "Shipped" else 0,
            "IsGift": "false",
            "ConditionId": "New",
            "IsTransparency": False,
            "SerialNumberRequired": False,
        }
        if order.status != "Pending":
            entry["ItemPrice"] = money_v0(item.item_price, cur)
            entry["ItemTax"] = money_v0(item.tax, cur)
            entry["ShippingPrice"] = money_v0(item.shipping, cur)
            entry["PromotionDiscount"] = money_v0(Decimal(0), cur)
        result.append(entry)
    return result


# -- Finances v0 -----------------------------------------------------------------------------------


def group_v0(settlement: SandboxSettlement) -> dict:
    cur = settlement.marketplace.currency
    data = {
        "FinancialEventGroupId": settlement.group_id,
        "ProcessingStatus": "Closed" if settlement.closed else "Open",
        "FundTransferStatus": "Succeeded" if settlement.closed else "Unknown",
        "OriginalTotal": currency_v0(settlement.total, cur),
        "ConvertedTotal": currency_v0(settlement.total, cur),
        "BeginningBalance": currency_v0(Decimal(0), cur),
        "FinancialEventGroupStart": iso(settlement.start),
        "AccountTail": "842",
        "TraceId": f"T{settlement.settlement_id}",
    }
    if settlement.closed:
        data["FinancialEventGroupEnd"] = iso(settlement.end)
        data["FundTransferDate"] = iso(settlement.deposit_date)
    return data


_ITEM_KEYS = {
    # (event kind, amount type) -> (list key, component type key, component amount key)
    ("shipment", "ItemPrice"): ("ItemChargeList", "ChargeType", "ChargeAmount"),
    ("shipment", "ItemFees"): ("ItemFeeList", "FeeType", "FeeAmount"),
    ("refund", "ItemPrice"): ("ItemChargeAdjustmentList", "ChargeType", "ChargeAmount"),
    ("refund", "ItemFees"): ("ItemFeeAdjustmentList", "FeeType", "FeeAmount"),
}


def financial_events_v0(events: list[FinanceEvent]) -> dict:
    """A ``FinancialEvents`` object holding these events in their lists."""
    lists: dict[str, list] = defaultdict(list)
    for event in events:
        cur = event.marketplace.currency
        if event.kind in ("shipment", "refund"):
            lists["ShipmentEventList" if event.kind == "shipment" else "RefundEventList"].append(
                _shipment_event(event)
            )
        elif event.kind == "service_fee":
            lists["ServiceFeeEventList"].append(
                {
                    "FeeReason": "SubscriptionFee",
                    "FeeDescription": event.lines[0].amount_description,
                    "FeeList": [
                        {
                            "FeeType": line.amount_description,
                            "FeeAmount": currency_v0(line.amount.amount, cur),
                        }
                        for line in event.lines
                    ],
                }
            )
        elif event.kind == "ads":
            amount = event.total
            lists["ProductAdsPaymentEventList"].append(
                {
                    "postedDate": iso(event.posted),
                    "transactionType": "charge",
                    "invoiceId": f"INV-{event.event_id}",
                    "baseValue": currency_v0(amount, cur),
                    "taxValue": currency_v0(Decimal(0), cur),
                    "transactionValue": currency_v0(amount, cur),
                }
            )
        elif event.kind == "reserve":
            for line in event.lines:
                lists["AdjustmentEventList"].append(
                    {
                        "AdjustmentType": "ReserveEvent",
                        "PostedDate": iso(event.posted),
                        "AdjustmentAmount": currency_v0(line.amount.amount, cur),
                    }
                )
    return dict(lists)


def _shipment_event(event: FinanceEvent) -> dict:
    order = event.order
    assert order is not None
    cur = event.marketplace.currency
    items: dict[str, dict] = {}
    for line in event.lines:
        item = items.setdefault(
            line.order_item_code or "",
            {"SellerSKU": line.sku, "OrderItemId": line.order_item_code},
        )
        if line.quantity is not None:
            item["QuantityShipped"] = line.quantity
        if line.adjustment_id:
            item["OrderAdjustmentItemId"] = line.adjustment_id
        if line.amount_type == "ItemWithheldTax":
            item.setdefault(
                "ItemTaxWithheldList", [{"TaxCollectionModel": "MarketplaceFacilitator", "TaxesWithheld": []}]
            )
            item["ItemTaxWithheldList"][0]["TaxesWithheld"].append(
                {"ChargeType": line.amount_description, "ChargeAmount": currency_v0(line.amount.amount, cur)}
            )
            continue
        list_key, type_key, amount_key = _ITEM_KEYS[(event.kind, line.amount_type)]
        item.setdefault(list_key, []).append(
            {type_key: line.amount_description, amount_key: currency_v0(line.amount.amount, cur)}
        )
    return {
        "AmazonOrderId": order.order_id,
        "SellerOrderId": order.seller_order_id,
        "MarketplaceName": order.marketplace.name,
        "PostedDate": iso(event.posted),
        "ShipmentItemList" if event.kind == "shipment" else "ShipmentItemAdjustmentList": list(
            items.values()
        ),
    }


# -- Finances 2024-06-19 ---------------------------------------------------------------------------

_TRANSACTION_TYPES = {
    "shipment": "Shipment",
    "refund": "Refund",
    "service_fee": "ServiceFee",
    "ads": "ProductAdsPayment",
    "reserve": "Adjustment",
}
_BREAKDOWN_TYPES = {
    "ItemPrice": "ProductCharges",
    "ItemFees": "AmazonFees",
    "ItemWithheldTax": "Tax",
    "Promotion": "Promotion",
}


def transaction_2024(event: FinanceEvent, settlement: SandboxSettlement) -> dict:
    cur = event.marketplace.currency
    groups: dict[str, list[SettlementLine]] = defaultdict(list)
    for line in event.lines:
        groups[_BREAKDOWN_TYPES.get(line.amount_type, "Expenses")].append(line)
    related = [
        {"relatedIdentifierName": "FINANCIAL_EVENT_GROUP_ID", "relatedIdentifierValue": settlement.group_id}
    ]
    if settlement.closed:
        related.append(
            {"relatedIdentifierName": "SETTLEMENT_ID", "relatedIdentifierValue": settlement.settlement_id}
        )
    if event.order:
        related.append({"relatedIdentifierName": "ORDER_ID", "relatedIdentifierValue": event.order.order_id})
    if event.deferral:  # the release of a deferred transaction
        related.append(
            {"relatedIdentifierName": "DEFERRED_TRANSACTION_ID", "relatedIdentifierValue": event.deferred_id}
        )
    data: dict = {
        "sellingPartnerMetadata": {
            "sellingPartnerId": "A3SANDBOXSELLER",
            "accountType": "Standard Orders",
            "marketplaceId": event.marketplace.marketplace_id,
        },
        "relatedIdentifiers": related,
        "transactionType": _TRANSACTION_TYPES[event.kind],
        "transactionId": event.event_id,
        "transactionStatus": "RELEASED",
        "description": _TRANSACTION_TYPES[event.kind],
        "postedDate": iso(event.posted),
        "totalAmount": currency_2024(event.total, cur),
        "marketplaceDetails": {
            "marketplaceId": event.marketplace.marketplace_id,
            "marketplaceName": event.marketplace.name,
        },
        "breakdowns": [
            {
                "breakdownType": name,
                "breakdownAmount": currency_2024(
                    sum((line.amount.amount for line in lines), Decimal(0)), cur
                ),
                "breakdowns": [
                    {
                        "breakdownType": line.amount_description,
                        "breakdownAmount": currency_2024(line.amount.amount, cur),
                    }
                    for line in lines
                ],
            }
            for name, lines in groups.items()
        ],
    }
    if event.order:
        data["contexts"] = [
            {
                "contextType": "ProductContext",
                "asin": item.product.asin,
                "sku": item.product.sku,
                "quantityShipped": item.quantity,
                "fulfillmentNetwork": event.order.channel,
            }
            for item in event.order.items
        ]
    return data
