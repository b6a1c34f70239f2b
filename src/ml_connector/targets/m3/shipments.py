"""Delivered customer-order lines (status 66 and above) with carrier and tracking from MWS410MI,
for the shipment confirmation flow. The Amazon order item id travels in the line's CUOR and the
marketplace in the order head's YREF, both written when the order was entered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from ml_connector.model.orders import ShipmentConfirmation
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.settings import M3Settings

DELIVERED = "66"


def delivered(status: str) -> bool:
    return len(status) == 2 and status.isdigit() and status >= DELIVERED and status != "99"


def departure(date_text: str, time_text: str) -> datetime | None:
    try:
        day = datetime.strptime(date_text, "%Y%m%d")
    except ValueError:
        return None
    hhmm = (time_text or "0").zfill(4)
    return day.replace(hour=int(hhmm[:2]) % 24, minute=int(hhmm[2:4]) % 60, tzinfo=UTC)


class ShipmentReader:
    def __init__(self, mi: MiClient, settings: M3Settings, customers) -> None:
        self._mi = mi
        self._settings = settings
        self._customers = customers  # () -> list of CUNO to look at

    def shipped(self, since: datetime) -> Iterator[ShipmentConfirmation]:
        since = since.replace(second=0, microsecond=0)  # M3 keeps departure times to the minute
        company = self._settings.company
        for customer in self._customers():
            heads = self._mi.call("OIS100MI", "LstHead", {"CONO": company, "CUNO": customer}, maxrecs=0)
            for head in heads:
                if head.get("CUOR") and delivered(head.get("ORST", "")):
                    yield from self._order(head, since)

    def _order(self, head: dict[str, str], since: datetime) -> Iterator[ShipmentConfirmation]:
        company = self._settings.company
        lines = self._mi.call("OIS100MI", "LstLine", {"CONO": company, "ORNO": head["ORNO"]}, maxrecs=0)
        by_delivery: dict[str, list[tuple[str, int]]] = {}
        for line in lines:
            if not delivered(line.get("ORST", "")):
                continue
            deliveries = self._mi.call(
                "OIS100MI", "LstDelLineByCO", {"ORNO": head["ORNO"], "PONR": line["PONR"]}, maxrecs=0
            )
            for row in deliveries:
                quantity = int(Decimal(row.get("TRQT") or line.get("ORQT") or "0"))
                by_delivery.setdefault(row["DLIX"], []).append((line.get("CUOR", ""), quantity))
        for dlix, items in by_delivery.items():
            delivery = self._mi.call("MWS410MI", "GetHead", {"CONO": company, "DLIX": dlix})
            if not delivery:
                continue
            info = delivery[0]
            shipped_at = departure(info.get("DSDT", ""), info.get("DSHM", ""))
            if shipped_at is None or shipped_at < since or not info.get("ETRN"):
                continue
            yield ShipmentConfirmation(
                amazon_order_id=head["CUOR"],
                marketplace_id=head.get("YREF", ""),
                carrier=info.get("FWNO", ""),
                tracking_number=info["ETRN"],
                ship_date=shipped_at,
                items=tuple(items),
                shipping_method=info.get("MODL") or None,
            )
