"""Finances v0 events flattened into settlement-style lines.

A settlement report, a Finances event group and a journal can then be compared line by line (the
reconcile flow): same transaction type / amount type / description vocabulary, money as Money.
Live responses differ from the model (``PostedDate`` vs ``postedDate``, ``GiftWrap`` vs
``Giftwrap``, lists the model does not have), so keys are read in either casing, and every list
this module does not understand is reported by name rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ml_connector.model import SettlementLine
from ml_connector.sources.amazon.mapping import money, timestamp

# ShipmentEvent-shaped lists and the settlement transaction type they become.
SHIPMENT_LISTS = {
    "ShipmentEventList": "Order",
    "RefundEventList": "Refund",
    "GuaranteeClaimEventList": "GuaranteeClaim",
    "ChargebackEventList": "Chargeback Refund",
}
# (list key, component type key, component amount key, settlement amount type)
_COMPONENT_LISTS = (
    ("ItemChargeList", "ChargeType", "ChargeAmount", "ItemPrice"),
    ("ItemChargeAdjustmentList", "ChargeType", "ChargeAmount", "ItemPrice"),
    ("ItemFeeList", "FeeType", "FeeAmount", "ItemFees"),
    ("ItemFeeAdjustmentList", "FeeType", "FeeAmount", "ItemFees"),
    ("PromotionList", "PromotionType", "PromotionAmount", "Promotion"),
    ("PromotionAdjustmentList", "PromotionType", "PromotionAmount", "Promotion"),
)
_EVENT_COMPONENT_LISTS = (
    ("OrderChargeList", "ChargeType", "ChargeAmount", "ItemPrice"),
    ("OrderChargeAdjustmentList", "ChargeType", "ChargeAmount", "ItemPrice"),
    ("ShipmentFeeList", "FeeType", "FeeAmount", "ShipmentFees"),
    ("ShipmentFeeAdjustmentList", "FeeType", "FeeAmount", "ShipmentFees"),
    ("OrderFeeList", "FeeType", "FeeAmount", "OrderFees"),
    ("OrderFeeAdjustmentList", "FeeType", "FeeAmount", "OrderFees"),
    ("DirectPaymentList", "DirectPaymentType", "DirectPaymentAmount", "DirectPayment"),
)
HANDLED = set(SHIPMENT_LISTS) | {
    "ServiceFeeEventList",
    "ProductAdsPaymentEventList",
    "AdjustmentEventList",
    "SellerDealPaymentEventList",
    "CouponPaymentEventList",
}


def _get(data: dict, name: str) -> Any:
    """A field in the model's casing or the other one (``PostedDate`` / ``postedDate``)."""
    if name in data:
        return data[name]
    return data.get(name[0].swapcase() + name[1:])


def _posted(event: dict):
    return timestamp(_get(event, "PostedDate"))


def _line(transaction_type: str, amount_type: str, description: str, amount, **context) -> SettlementLine:
    return SettlementLine(
        transaction_type=transaction_type,
        amount_type=amount_type,
        amount_description=description,
        amount=amount,
        **context,
    )


def _components(holder: dict, lists: tuple, transaction_type: str, context: dict) -> Iterator[SettlementLine]:
    for key, type_key, amount_key, amount_type in lists:
        for component in _get(holder, key) or ():
            amount = money(_get(component, amount_key))
            if amount is not None:
                yield _line(transaction_type, amount_type, _get(component, type_key) or "", amount, **context)


def finance_lines(events: dict) -> list[SettlementLine]:
    """Every money component of one ``FinancialEvents`` object, as settlement-style lines."""
    lines: list[SettlementLine] = []
    for list_name, transaction_type in SHIPMENT_LISTS.items():
        for event in events.get(list_name) or ():
            base = {
                "posted_date": _posted(event),
                "order_id": _get(event, "AmazonOrderId"),
                "merchant_order_id": _get(event, "SellerOrderId"),
                "marketplace_name": _get(event, "MarketplaceName"),
            }
            lines.extend(_components(event, _EVENT_COMPONENT_LISTS, transaction_type, base))
            items = (_get(event, "ShipmentItemList") or []) + (
                _get(event, "ShipmentItemAdjustmentList") or []
            )
            for item in items:
                context = {
                    **base,
                    "adjustment_id": _get(item, "OrderAdjustmentItemId"),
                    "sku": _get(item, "SellerSKU"),
                    "order_item_code": _get(item, "OrderItemId"),
                }
                lines.extend(
                    _components(
                        item,
                        _COMPONENT_LISTS,
                        transaction_type,
                        {**context, "quantity": _get(item, "QuantityShipped")},
                    )
                )
                for withheld in _get(item, "ItemTaxWithheldList") or ():
                    for component in _get(withheld, "TaxesWithheld") or ():
                        amount = money(_get(component, "ChargeAmount"))
                        if amount is not None:
                            lines.append(
                                _line(
                                    transaction_type,
                                    "ItemWithheldTax",
                                    _get(component, "ChargeType") or "",
                                    amount,
                                    **context,
                                )
                            )
    for event in events.get("ServiceFeeEventList") or ():
        for fee in _get(event, "FeeList") or ():
            amount = money(_get(fee, "FeeAmount"))
            if amount is not None:
                description = _get(fee, "FeeType") or _get(event, "FeeDescription") or ""
                lines.append(
                    _line(
                        "ServiceFee", "other-transaction", description, amount, sku=_get(event, "SellerSKU")
                    )
                )
    for event in events.get("ProductAdsPaymentEventList") or ():
        amount = money(_get(event, "transactionValue"))
        if amount is not None:
            lines.append(
                _line(
                    "ServiceFee",
                    "Cost of Advertising",
                    "TransactionTotalAmount",
                    amount,
                    posted_date=_posted(event),
                )
            )
    for event in events.get("AdjustmentEventList") or ():
        amount = money(_get(event, "AdjustmentAmount"))
        if amount is not None:
            description = _get(event, "AdjustmentType") or ""
            lines.append(
                _line(
                    "other-transaction", "other-transaction", description, amount, posted_date=_posted(event)
                )
            )
    for event in events.get("SellerDealPaymentEventList") or ():
        for key, description in (
            ("feeAmount", _get(event, "feeType") or "DealFee"),
            ("taxAmount", "DealFeeTax"),
        ):
            amount = money(_get(event, key))
            if amount is not None:
                lines.append(
                    _line("Deal Fee", "other-transaction", description, amount, posted_date=_posted(event))
                )
    for event in events.get("CouponPaymentEventList") or ():
        for key, type_key, amount_key in (
            ("FeeComponent", "FeeType", "FeeAmount"),
            ("ChargeComponent", "ChargeType", "ChargeAmount"),
        ):
            component = _get(event, key) or {}
            amount = money(_get(component, amount_key))
            if amount is not None:
                lines.append(
                    _line(
                        "CouponPaymentEvent",
                        "CouponRedemptionFee",
                        _get(component, type_key) or "",
                        amount,
                        posted_date=_posted(event),
                    )
                )
    return lines


def unhandled_lists(events: dict) -> list[str]:
    """Names of non-empty event lists this module does not turn into lines (so money is not
    silently lost: the caller reports them, and reconciliation shows the difference)."""
    return sorted(name for name, value in events.items() if value and name not in HANDLED)
