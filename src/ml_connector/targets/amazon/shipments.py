"""Shipment confirmations as an Amazon-side posting target: confirmShipment once per package, found
when Amazon already has the order as Shipped. The package reference derives from the tracking
number, so a confirmation resent after a lost reply names the same package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.model.orders import ShipmentConfirmation
from ml_connector.sources.amazon import SpApiClient

SHIPMENT_CONFIRMATION = "shipment_confirmation"


def package_reference(tracking_number: str) -> str:
    """A positive number (what Amazon accepts) derived from the tracking number: the same package
    always gets the same reference, so a resent confirmation cannot add a second package."""
    digest = hashlib.sha256(tracking_number.strip().encode()).hexdigest()
    return str(int(digest[:12], 16) % 10**9 + 1)


def shipment_key(order_id: str, tracking_number: str) -> str:
    return f"SHIP-{order_id}-{tracking_number.strip()}"


@dataclass(frozen=True, slots=True)
class ShipmentDocument:
    key: str
    confirmation: ShipmentConfirmation
    kind: str = SHIPMENT_CONFIRMATION

    @classmethod
    def of(cls, confirmation: ShipmentConfirmation) -> ShipmentDocument:
        return cls(shipment_key(confirmation.amazon_order_id, confirmation.tracking_number), confirmation)

    @property
    def package_reference_id(self) -> str:
        return package_reference(self.confirmation.tracking_number)

    def snapshot(self) -> dict[str, Any]:
        c = self.confirmation
        return {
            "amazon_order_id": c.amazon_order_id,
            "marketplace_id": c.marketplace_id,
            "carrier": c.carrier,
            "tracking_number": c.tracking_number,
            "ship_date": c.ship_date.isoformat(),
            "items": [list(item) for item in c.items],
            "shipping_method": c.shipping_method,
        }


class ShipmentConfirmationTarget:
    """confirmShipment once per package; found when Amazon already has the order as Shipped
    (confirmed by an earlier run or by hand in Seller Central)."""

    def __init__(self, amazon: SpApiClient) -> None:
        self._amazon = amazon

    def find(self, document: ShipmentDocument) -> str | None:
        order = self._amazon.get_order(document.confirmation.amazon_order_id)
        if order.status == "Shipped":
            return document.package_reference_id
        if order.status in ("Canceled", "Unfulfillable"):
            raise PermanentError(
                f"order {order.amazon_order_id} is {order.status} on Amazon; it cannot be confirmed as shipped"
            )
        return None

    def find_all(self, document: ShipmentDocument) -> list[str]:
        """One package reference per tracking number: Amazon cannot hold the package twice."""
        found = self.find(document)
        return [] if found is None else [found]

    def post(self, document: ShipmentDocument) -> str:
        reference = document.package_reference_id
        self._amazon.confirm_shipment(document.confirmation, package_reference_id=reference)
        return reference
