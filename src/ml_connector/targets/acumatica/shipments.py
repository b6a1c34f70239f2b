"""Shipments from Acumatica for the shipments flow: confirmed shipments of the Amazon orders posted
as sales orders, with their carrier, tracking number and Amazon order item ids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from ml_connector.model.orders import ShipmentConfirmation
from ml_connector.targets.acumatica.client import AcumaticaClient

SHIPPED = {"Confirmed", "Completed", "Invoiced"}


class ShipmentReader:
    def __init__(self, client: AcumaticaClient) -> None:
        self._client = client
        self._marketplaces: dict[str, str] = {}

    def shipped_orders(self, since: datetime) -> Iterable[ShipmentConfirmation]:
        """Confirmed shipments changed since ``since``, for the Amazon orders posted as sales
        orders: Shipment.Details name the order lines (OrderType/OrderNbr/OrderLineNbr), the order's
        CustomerOrder is the Amazon order id and its lines' ExternalRef the Amazon order item ids,
        Packages carry the tracking numbers and ShipVia the carrier. Direct SO invoices have no
        shipment, so orders posted as invoices never appear here."""
        orders: dict[tuple[str, str], dict | None] = {}
        for shipment in self._client.modified_since("Shipment", since, expand="Details,Packages"):
            if shipment.get("Status") not in SHIPPED:
                continue
            tracking = next(
                (p.get("TrackingNbr") for p in shipment.get("Packages") or [] if p.get("TrackingNbr")), ""
            )
            by_order: dict[tuple[str, str], list[dict]] = {}
            for line in shipment.get("Details") or []:
                by_order.setdefault((str(line.get("OrderType")), str(line.get("OrderNbr"))), []).append(line)
            for key, lines in by_order.items():
                if key not in orders:
                    orders[key] = self._client.get_by_keys(
                        "SalesOrder",
                        *key,
                        expand="Details",
                        select="CustomerOrder,CustomerID,Details/LineNbr,Details/ExternalRef",
                    )
                order = orders[key]
                if not order or not order.get("CustomerOrder"):
                    continue  # not an Amazon order
                item_of = {row.get("LineNbr"): row.get("ExternalRef") for row in order.get("Details") or []}
                items = tuple(
                    (str(item_of[line.get("OrderLineNbr")]), int(Decimal(str(line.get("ShippedQty") or 0))))
                    for line in lines
                    if item_of.get(line.get("OrderLineNbr"))
                )
                yield ShipmentConfirmation(
                    amazon_order_id=str(order["CustomerOrder"]),
                    marketplace_id=self._marketplace_of(str(order.get("CustomerID") or "")),
                    carrier=str(shipment.get("ShipVia") or ""),
                    tracking_number=str(tracking or ""),
                    ship_date=datetime.fromisoformat(str(shipment.get("ShipmentDate"))),
                    items=items,
                    shipping_method=shipment.get("ShipVia"),
                )

    def _marketplace_of(self, customer_id: str) -> str:
        """The marketplace a customer stands for: its AccountRef holds the customer document's key
        (``MKT-<marketplace id>``), written when the connector created it."""
        if customer_id not in self._marketplaces:
            record = (
                self._client.get_by_keys("Customer", customer_id, select="CustomerID,AccountRef")
                if customer_id
                else None
            )
            reference = str((record or {}).get("AccountRef") or "")
            self._marketplaces[customer_id] = (
                reference.removeprefix("MKT-") if reference.startswith("MKT-") else ""
            )
        return self._marketplaces[customer_id]
