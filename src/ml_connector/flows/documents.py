"""Amazon objects to ERP documents: the decisions a flow makes about an order before posting it.

Pure functions over the canonical model, so the accounting rules (which orders are posted, as what,
against which customer) are testable without any API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ml_connector.errors import PermanentError
from ml_connector.model.documents import CustomerDocument, SalesDocument, SalesLine
from ml_connector.model.money import Money
from ml_connector.model.orders import Order

OrderAction = Literal["post", "wait", "skip"]
# Amazon order statuses (Orders v0 names; the 2026-01-01 API's are mapped onto these by the client).
_WAIT = {"Pending", "PendingAvailability"}
_SKIP = {"Canceled", "Unfulfillable"}


@dataclass(frozen=True)
class Decision:
    action: OrderAction
    reason: str


def decide(order: Order) -> Decision:
    """Pending orders are not yet sales (payment not authorised): wait for their next update.
    Canceled ones never become ERP documents (one already posted is flagged by the flow instead)."""
    if order.status in _WAIT:
        return Decision("wait", f"order is {order.status}; it is posted once Amazon confirms payment")
    if order.status in _SKIP:
        return Decision("skip", f"order is {order.status}")
    if not order.items:
        return Decision("wait", "order has no items yet")
    return Decision("post", order.status)


def marketplace_customer(
    marketplace_id: str, country_code: str, name: str, currency: str
) -> CustomerDocument:
    """The default customer mode: one ERP customer per marketplace (no buyer PII needed)."""
    return CustomerDocument(
        key=f"AMAZON-{country_code}", name=f"Amazon {name}", currency=currency, country_code=country_code
    )


BUYER_HASH_DIGITS = 16  # 64 bits: two of a billion buyers collide with odds of about 3 in 100 million


def buyer_key(identity: str) -> str:
    """The customer key of a buyer: 64 bits of the hash of what identifies the buyer to Amazon."""
    digest = hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:BUYER_HASH_DIGITS]
    return f"AMZB{digest.upper()}"


def buyer_customer(order: Order) -> CustomerDocument:
    """Buyer customer mode: needs the shipping address, which only a Restricted Data Token gives.
    The buyer is identified by Amazon's buyer e-mail (a per-buyer relay address), else the ship-to
    name; the customer carries that buyer's own name and address and is used only for its orders."""
    if order.ship_to is None:
        raise PermanentError(
            f"order {order.amazon_order_id}: buyer customer mode needs the buyer's address; "
            "request it with a Restricted Data Token (the orders flow does so in this mode)"
        )
    key = buyer_key(order.buyer_email or order.ship_to.name or order.amazon_order_id)
    return CustomerDocument(
        key=key,
        name=order.ship_to.name or f"Amazon buyer {key[4:]}",
        currency=order.currency,
        country_code=order.ship_to.country_code,
        address=order.ship_to,
        buyer=True,
    )


class UnmappedSkus(PermanentError):
    """The order names SKUs without an ERP item; only this order fails, naming every SKU."""

    def __init__(self, order_id: str, skus: list[str]) -> None:
        self.skus = skus
        listed = ", ".join(skus)
        super().__init__(
            f"order {order_id}: no ERP item for SKU {listed}; map it (an ERP alias / cross-reference, "
            f"or the connection's sku_map) and replay the record"
        )


def sales_document(
    order: Order,
    *,
    customer_id: str,
    items: dict[str, str | None],
    kind: Literal["sales_order", "sales_invoice"],
    warehouse: str | None = None,
) -> SalesDocument:
    """The order as an ERP sales document. Unit prices are the item price over the quantity, kept
    exact in Decimal; the line total therefore equals Amazon's item price to the cent."""
    missing = sorted({item.sku for item in order.items if not items.get(item.sku)})
    if missing:
        raise UnmappedSkus(order.amazon_order_id, missing)
    lines = []
    for item in order.items:
        if item.quantity <= 0:
            continue
        unit = item.item_price.amount / Decimal(item.quantity)
        lines.append(
            SalesLine(
                item_id=items[item.sku] or "",
                sku=item.sku,
                quantity=item.quantity,
                unit_price=Money(unit, item.item_price.currency),
                description=(item.title or item.sku)[:60],
                order_item_id=item.order_item_id,
            )
        )
    return SalesDocument(
        key=order.amazon_order_id,
        kind=kind,
        customer_id=customer_id,
        currency=order.currency,
        order_date=order.purchase_date.date(),
        lines=tuple(lines),
        marketplace_id=order.marketplace_id,
        ship_to=order.ship_to,
        warehouse=warehouse,
        description=f"Amazon order {order.amazon_order_id}",
    )
