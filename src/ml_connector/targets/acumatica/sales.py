"""Sales orders and sales invoices into Acumatica, found by the key in CustomerOrder (ExternalRef on
invoices from 24.200.001 on); an invoice saved but not released by a crash is released by ``find``.
Credit memos (an invoiced order canceled) are SalesInvoices of type Credit Memo, found the same way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.model.documents import CreditNoteDocument, SalesDocument
from ml_connector.model.money import Money
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string

RELEASED_INVOICE = {"Open", "Closed"}


def invoice_key_field(settings: AcumaticaSettings) -> str:
    """Where a SalesInvoice carries the document key."""
    return "ExternalRef" if settings.has_external_ref else "CustomerOrder"


def release_invoice(client: AcumaticaClient, record: dict[str, Any]) -> None:
    client.invoke("SalesInvoice", "ReleaseSalesInvoice", {"id": record["id"]})


class SalesPoster:
    """sales_order -> SalesOrder (type SO), sales_invoice -> SalesInvoice (type Invoice)."""

    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def _filter(self, document: SalesDocument) -> tuple[str, str]:
        key = odata_string(document.key)
        if document.kind == "sales_order":
            return "SalesOrder", f"OrderType eq 'SO' and CustomerOrder eq {key}"
        return "SalesInvoice", f"Type eq 'Invoice' and {invoice_key_field(self._settings)} eq {key}"

    def find(self, document: SalesDocument) -> str | None:
        entity, condition = self._filter(document)
        number = "OrderNbr" if entity == "SalesOrder" else "ReferenceNbr"
        rows = self._client.list(entity, filter=condition, select=f"{number},Status", top=2)
        if not rows:
            return None
        record = rows[0]
        if (
            entity == "SalesInvoice"
            and self._settings.release_invoices
            and record.get("Status") not in RELEASED_INVOICE
        ):
            release_invoice(self._client, record)
        return str(record[number])

    def find_all(self, document: SalesDocument) -> list[str]:
        entity, condition = self._filter(document)
        number = "OrderNbr" if entity == "SalesOrder" else "ReferenceNbr"
        rows = self._client.list(entity, filter=condition, select=number)
        return list(dict.fromkeys(str(row[number]) for row in rows))

    def post(self, document: SalesDocument) -> str:
        if not document.lines:
            raise PermanentError(f"order {document.key} has no lines to invoice")
        if document.kind == "sales_order":
            record = self._client.put(
                "SalesOrder", bodies.sales_order_body(self._settings, document), insert_only=True
            )
            return str(record["OrderNbr"])
        if document.kind != "sales_invoice":
            raise PermanentError(f"unknown sales document kind {document.kind!r}")
        record = self._client.put(
            "SalesInvoice", bodies.sales_invoice_body(self._settings, document), insert_only=True
        )
        if self._settings.release_invoices:
            release_invoice(self._client, record)
        return str(record["ReferenceNbr"])

    def invoice_total(self, key: str, currency: str) -> Money | None:
        """A sales invoice's Amount (reconcile; reads only)."""
        rows = self._client.list(
            "SalesInvoice",
            filter=f"Type eq 'Invoice' and {invoice_key_field(self._settings)} eq {odata_string(key)}",
            select="ReferenceNbr,Amount,Currency",
            top=1,
        )
        if not rows:
            return None
        return Money(Decimal(str(rows[0].get("Amount") or 0)), rows[0].get("Currency") or currency)


class CreditMemoPoster:
    """credit_note -> SalesInvoice of type Credit Memo, keyed by the order id."""

    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def _condition(self, document: CreditNoteDocument) -> str:
        return (
            f"Type eq 'Credit Memo' and {invoice_key_field(self._settings)} eq {odata_string(document.key)}"
        )

    def find(self, document: CreditNoteDocument) -> str | None:
        """By the order id, on Credit Memos only (the order's invoice holds the same key); one
        saved but not released by a crash in between is released here."""
        rows = self._client.list(
            "SalesInvoice", filter=self._condition(document), select="ReferenceNbr,Status", top=2
        )
        if not rows:
            return None
        record = rows[0]
        if self._settings.release_invoices and record.get("Status") not in RELEASED_INVOICE:
            release_invoice(self._client, record)
        return str(record["ReferenceNbr"])

    def find_all(self, document: CreditNoteDocument) -> list[str]:
        rows = self._client.list("SalesInvoice", filter=self._condition(document), select="ReferenceNbr")
        return list(dict.fromkeys(str(row["ReferenceNbr"]) for row in rows))

    def post(self, document: CreditNoteDocument) -> str:
        if not document.lines:
            raise PermanentError(f"credit note for order {document.key} has no lines")
        record = self._client.put(
            "SalesInvoice", bodies.credit_memo_body(self._settings, document), insert_only=True
        )
        if self._settings.release_invoices:
            release_invoice(self._client, record)
        return str(record["ReferenceNbr"])
