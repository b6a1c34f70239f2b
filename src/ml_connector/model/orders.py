"""Orders, stock and shipments in the canonical model (source- and target-neutral).

Buyer PII (name, address, phone) is optional everywhere: it is filled only when a flow asked for it
through a Restricted Data Token, and never written to the audit trail unredacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ml_connector.model.money import Money


@dataclass(frozen=True, slots=True)
class Address:
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state_or_region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class OrderItem:
    order_item_id: str
    sku: str
    asin: str | None
    quantity: int
    unit_price: Money
    item_price: Money  # quantity x unit price, as Amazon reports it
    item_tax: Money | None = None
    shipping_price: Money | None = None
    shipping_tax: Money | None = None
    promotion_discount: Money | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    amazon_order_id: str
    marketplace_id: str
    purchase_date: datetime
    last_updated: datetime
    status: str  # Pending, Unshipped, PartiallyShipped, Shipped, Canceled, Unfulfillable ...
    fulfillment_channel: str  # AFN (Amazon) or MFN (seller)
    currency: str
    items: tuple[OrderItem, ...] = field(default_factory=tuple)
    order_total: Money | None = None
    seller_order_id: str | None = None
    ship_to: Address | None = None  # PII: only with a Restricted Data Token
    buyer_email: str | None = None  # PII: only with a Restricted Data Token

    @property
    def is_seller_fulfilled(self) -> bool:
        return self.fulfillment_channel == "MFN"


@dataclass(frozen=True, slots=True)
class StockLevel:
    """What the ERP says can be sold, per SKU (after SKU-to-item resolution)."""

    sku: str
    item_id: str
    quantity: int
    price: Money | None = None
    warehouse: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentConfirmation:
    """A seller-fulfilled order (or part of one) shipped in the ERP, to confirm to Amazon."""

    amazon_order_id: str
    marketplace_id: str
    carrier: str
    tracking_number: str
    ship_date: datetime
    items: tuple[tuple[str, int], ...]  # (Amazon order item id, quantity)
    shipping_method: str | None = None
