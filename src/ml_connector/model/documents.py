"""What flows ask a target to write: ERP-neutral documents, each with its deterministic key.

The key is derived from the Amazon side only (settlement id + period, Amazon order id, marketplace),
so that a rerun, a second worker or a replay computes the same key and the engine's posting protocol
can find what was already written. Targets write the key into a searchable field of the ERP record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from ml_connector.model.journal import Journal
from ml_connector.model.money import Money
from ml_connector.model.orders import Address

# "deferral": a JournalDocument of the deferrals flow, a record kind of its own (flows/deferrals.py).
DocumentKind = Literal[
    "journal", "customer", "sales_order", "sales_invoice", "credit_note", "ar_payment", "deferral"
]


@dataclass(frozen=True, slots=True)
class CustomerDocument:
    """An ERP customer: by default one per marketplace; one per buyer only in that customer mode."""

    key: str  # e.g. "AMAZON-US", or "AMZB<16 hex digits>" (64 bits of the buyer's hash)
    name: str
    currency: str
    country_code: str | None = None
    address: Address | None = None  # PII only in buyer-customer mode
    kind: DocumentKind = "customer"
    buyer: bool = False  # one customer per buyer: its ERP id follows the key, never the country


@dataclass(frozen=True, slots=True)
class SalesLine:
    item_id: str  # the ERP item (M3 ITNO, Acumatica InventoryID), already resolved from the SKU
    sku: str
    quantity: int
    unit_price: Money
    description: str = ""
    order_item_id: str = ""


@dataclass(frozen=True, slots=True)
class SalesDocument:
    """An Amazon order as an ERP sales order (summary mode) or sales invoice (invoice mode)."""

    key: str  # the Amazon order id
    kind: DocumentKind  # "sales_order" or "sales_invoice"
    customer_id: str  # the ERP customer number (already posted/found)
    currency: str
    order_date: date
    lines: tuple[SalesLine, ...] = field(default_factory=tuple)
    marketplace_id: str = ""
    ship_to: Address | None = None
    warehouse: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class CreditNoteDocument:
    """A posted invoice credited in full: Amazon canceled its order after it was invoiced."""

    key: str  # the Amazon order id (the kind tells it from the order's invoice)
    invoice_id: str  # the ERP's number of the invoice being credited
    customer_id: str
    currency: str
    order_date: date
    lines: tuple[SalesLine, ...] = field(default_factory=tuple)
    description: str = ""
    kind: DocumentKind = "credit_note"

    @property
    def total(self) -> Money:
        amount = sum((line.unit_price.amount * line.quantity for line in self.lines), Decimal(0))
        return Money(amount, self.currency)


@dataclass(frozen=True, slots=True)
class JournalDocument:
    """A settlement journal (one settlement, or one accounting period of it)."""

    key: str  # Journal.reference
    journal: Journal
    kind: DocumentKind = "journal"


@dataclass(frozen=True, slots=True)
class PaymentDocument:
    """What a settlement paid on the order invoices, as one AR payment applied to each order's
    invoice (invoice mode, where the ERP clears receivables by payment). The flow decides the
    amounts (from the settlement journal's clearing lines); the target only writes them."""

    key: str  # the settlement journal's reference (the payment's reference in the ERP)
    posting_date: date
    applications: tuple[tuple[str, Money], ...]  # (Amazon order id, amount collected for it)
    kind: DocumentKind = "ar_payment"

    @property
    def total(self) -> Money:
        currency = self.applications[0][1].currency if self.applications else "USD"
        return sum((amount for _order, amount in self.applications), Money(Decimal(0), currency))


Document = CustomerDocument | SalesDocument | CreditNoteDocument | JournalDocument | PaymentDocument
