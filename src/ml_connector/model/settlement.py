"""A settlement (one Amazon payout) and its lines, as the settlement report states them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ml_connector.model.money import Money


@dataclass(frozen=True, slots=True)
class Settlement:
    """The summary row of a settlement report: the authoritative record of the payout."""

    settlement_id: str
    start: datetime
    end: datetime
    deposit_date: datetime | None
    total: Money
    marketplace: str | None = None
    report_type: str | None = None

    @property
    def currency(self) -> str:
        return self.total.currency


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One money component of a settlement (one V2 row; one amount cell of a V1 row)."""

    transaction_type: str
    amount_type: str
    amount_description: str
    amount: Money
    posted_date: date | None = None
    order_id: str | None = None
    adjustment_id: str | None = None
    sku: str | None = None
    quantity: int | None = None
    marketplace_name: str | None = None
    fulfillment_id: str | None = None
    shipment_id: str | None = None
    merchant_order_id: str | None = None
    order_item_code: str | None = None
    line_number: int = 0  # the row in the file, so that every error can point at it

    @property
    def key(self) -> tuple[str, str, str]:
        """What the account mapping classifies by."""
        return (self.transaction_type, self.amount_type, self.amount_description)
