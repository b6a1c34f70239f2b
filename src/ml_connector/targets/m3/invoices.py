"""Customer invoice totals read back from M3, so reconcile ties an M3 connection in invoice mode
invoice by invoice.

An Amazon order is an M3 customer order whose CUOR is the Amazon order id; M3 invoices it when
it is delivered (OIS180/OIS190). ``OIS350MI.LstAllInvByCO`` lists every invoice of the order with
``IVAV`` (invoice amount including VAT) in ``CUCD``: the total is their sum in the asked currency
(a credit note counts negative). The CUOR -> ORNO map is read once per target life through
``OIS100MI.LstHead`` per order customer, so each order then costs one call.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ml_connector.model.money import Money
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.settings import M3Settings


class InvoiceReader:
    def __init__(self, mi: MiClient, settings: M3Settings, order_customers: Callable[[], list[str]]) -> None:
        self._mi = mi
        self._settings = settings
        self._order_customers = order_customers
        self._orders: dict[str, str] | None = None  # Amazon order id (CUOR) -> M3 order number

    def _order_number(self, amazon_order_id: str) -> str | None:
        if self._orders is None or amazon_order_id not in self._orders:
            self._orders = {}
            for customer in self._order_customers():
                for row in self._mi.call(
                    "OIS100MI", "LstHead", {"CONO": self._settings.company, "CUNO": customer}, maxrecs=0
                ):
                    if row.get("CUOR"):
                        self._orders[row["CUOR"]] = row["ORNO"]
        return self._orders.get(amazon_order_id)

    def total(self, amazon_order_id: str, currency: str) -> Money | None:
        """The order's invoiced total, or None when M3 has no such order or has not invoiced it."""
        number = self._order_number(amazon_order_id)
        if number is None:
            return None
        rows = self._mi.call(
            "OIS350MI", "LstAllInvByCO", {"CONO": self._settings.company, "ORNO": number}, maxrecs=0
        )
        amounts = [
            Decimal(row.get("IVAV") or "0") for row in rows if (row.get("CUCD") or currency) == currency
        ]
        if not amounts:
            return None
        return Money(sum(amounts, Decimal(0)), currency)
