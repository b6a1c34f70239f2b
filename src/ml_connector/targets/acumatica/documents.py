"""Canonical documents -> Acumatica entity bodies (plain fields; ``values.wrap`` wraps them).

Kept apart from the adapter so the field names can be checked against the official OpenAPI files
without a server: Details use ``Qty``/``UnitPrice``/``TransactionDescr`` on SalesInvoice,
``OrderQty``/``UnitPrice``/``LineDescription`` on SalesOrder, and ``TransactionDescription`` (the
line text; ``Description`` is the account's) with ``DebitAmount``/``CreditAmount`` on
JournalTransaction.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.model.documents import (
    CreditNoteDocument,
    CustomerDocument,
    JournalDocument,
    SalesDocument,
)
from ml_connector.targets.acumatica.settings import AcumaticaSettings

JOURNAL_PREFIX = "AMZ-STL "
CUSTOMER_ID_LENGTH = 10  # the default length of the CUSTOMER segmented key (BAccount.AcctCD)


BUYER_ID_PREFIX = "B"
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U


def buyer_customer_id(key: str, attempt: int = 0) -> str:
    """A buyer's CustomerID candidate: ``B`` + 9 base-32 digits (45 bits) of the hash of the key.

    45 bits is what 10 characters leave; the full 64-bit key lives in AccountRef, where the customer
    is found, and the CustomerID Acumatica keeps is recorded in the store by key. Should another key
    already hold a candidate (about one chance in 35 million per pair of buyers), the next attempt's
    candidate is used: a buyer never lands on someone else's customer.
    """
    seed = key if attempt == 0 else f"{key}#{attempt}"
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") >> 19  # 45 bits
    digits = []
    for _ in range(CUSTOMER_ID_LENGTH - len(BUYER_ID_PREFIX)):
        number, rest = divmod(number, 32)
        digits.append(_BASE32[rest])
    return BUYER_ID_PREFIX + "".join(reversed(digits))


def customer_id(settings: AcumaticaSettings, document: CustomerDocument) -> str:
    """The deterministic CustomerID of a customer document: configured, else (one customer per
    marketplace) prefix + country (``AMZ-US``), else prefix + a short hash of the key; a buyer's
    customer gets its first hash candidate (see ``buyer_customer_id``)."""
    if document.key in settings.customer_ids:
        return settings.customer_ids[document.key]
    if document.buyer:
        return buyer_customer_id(document.key)
    if document.country_code:
        return f"{settings.customer_prefix}{document.country_code.upper()}"[:CUSTOMER_ID_LENGTH]
    digest = hashlib.sha1(document.key.encode()).hexdigest().upper()
    return (settings.customer_prefix + digest)[:CUSTOMER_ID_LENGTH]


def customer_body(
    settings: AcumaticaSettings, document: CustomerDocument, number: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CustomerID": number or customer_id(settings, document),
        "CustomerName": document.name,
        "CustomerClass": settings.customer_class,
        "CurrencyID": document.currency,
        "AccountRef": document.key,
    }
    address = document.address
    if address is not None:
        body["MainContact"] = {
            "DisplayName": address.name,
            "Phone1": address.phone,
            "Address": {
                "AddressLine1": address.line1,
                "AddressLine2": address.line2,
                "City": address.city,
                "State": address.state_or_region,
                "PostalCode": address.postal_code,
                "Country": address.country_code,
            },
        }
    return body


def sales_invoice_body(settings: AcumaticaSettings, document: SalesDocument) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "Invoice",
        "CustomerID": document.customer_id,
        "Date": document.order_date,
        "CustomerOrder": document.key,
        "Description": document.description or f"Amazon order {document.key}",
        "Hold": False,
        "Details": [
            {
                "InventoryID": line.item_id,
                "WarehouseID": document.warehouse or settings.warehouse,
                "Qty": Decimal(line.quantity),
                "UnitPrice": _amount(line.unit_price.amount, line.unit_price.currency, document.currency),
                "TransactionDescr": (line.description or line.sku)[:255],
            }
            for line in document.lines
        ],
    }
    if settings.has_external_ref:
        body["ExternalRef"] = document.key
    return body


def credit_memo_body(settings: AcumaticaSettings, document: CreditNoteDocument) -> dict[str, Any]:
    """A Credit Memo on the SO Invoices form, each line pointing at the invoice it credits."""
    body: dict[str, Any] = {
        "Type": "Credit Memo",
        "CustomerID": document.customer_id,
        "Date": document.order_date,
        "CustomerOrder": document.key,
        "Description": document.description or f"Amazon order {document.key} canceled",
        "Hold": False,
        "Details": [
            {
                "InventoryID": line.item_id,
                "WarehouseID": settings.warehouse,
                "Qty": Decimal(line.quantity),
                "UnitPrice": _amount(line.unit_price.amount, line.unit_price.currency, document.currency),
                "TransactionDescr": (line.description or line.sku)[:255],
                "OrigInvType": "Invoice",
                "OrigInvNbr": document.invoice_id,
            }
            for line in document.lines
        ],
    }
    if settings.has_external_ref:
        body["ExternalRef"] = document.key
    return body


def sales_order_body(settings: AcumaticaSettings, document: SalesDocument) -> dict[str, Any]:
    return {
        "OrderType": "SO",
        "CustomerID": document.customer_id,
        "Date": document.order_date,
        "CustomerOrder": document.key,
        "ExternalRef": document.key,
        "Description": document.description or f"Amazon order {document.key}",
        "Hold": False,
        "Details": [
            {
                "InventoryID": line.item_id,
                "WarehouseID": document.warehouse or settings.warehouse,
                "OrderQty": Decimal(line.quantity),
                "UnitPrice": _amount(line.unit_price.amount, line.unit_price.currency, document.currency),
                "LineDescription": (line.description or line.sku)[:255],
                "ExternalRef": line.order_item_id or None,  # the Amazon order item, for shipments
            }
            for line in document.lines
        ],
    }


def journal_description(document: JournalDocument) -> str:
    """The batch Description carries the key: the field the connector queries first."""
    return f"{JOURNAL_PREFIX}{document.key}"


def check_journal(settings: AcumaticaSettings, document: JournalDocument) -> None:
    """Refuse what Acumatica would refuse, before any call, with the reason named."""
    journal = document.journal
    for index, line in enumerate(journal.lines):
        if line.account in settings.ar_control_accounts:
            raise PermanentError(
                f"journal {document.key} line {index + 1} posts to {line.account}, an AR control account: "
                "settlements must clear invoices through a non-control clearing account or an AR payment "
                "(invoice_settlement = 'clearing' or 'payment')",
                field=f"Details[{index}].Account",
            )
        if line.currency != journal.currency:
            raise PermanentError(
                f"journal {document.key} line {index + 1} is in {line.currency}, not {journal.currency}"
            )
    if not journal.lines:
        raise PermanentError(f"journal {document.key} has no lines")
    if not journal.balanced:
        raise PermanentError(
            f"journal {document.key} does not balance: debit {journal.total_debit}, credit {journal.total_credit}"
        )


def journal_body(settings: AcumaticaSettings, document: JournalDocument) -> dict[str, Any]:
    journal = document.journal
    details = []
    for line in journal.lines:
        dims = line.dimension_map
        row: dict[str, Any] = {
            "BranchID": dims.get("branch") or settings.branch,
            "Account": line.account,
            "Subaccount": dims.get("subaccount") or settings.default_subaccount,
            "TransactionDescription": (line.description or line.category or "")[:255] or None,
            "ReferenceNbr": (line.reference or journal.settlement_id or document.key)[:15],
        }
        if line.debit.amount:
            row["DebitAmount"] = line.debit.quantized().amount
        if line.credit.amount:
            row["CreditAmount"] = line.credit.quantized().amount
        details.append(row)
    body: dict[str, Any] = {
        "Module": "GL",
        "TransactionDate": journal.posting_date,
        "Description": journal_description(document),
        "BranchID": settings.branch,
        "Hold": False,
        "Details": details,
    }
    if journal.currency != settings.base_currency:
        body["CurrencyID"] = journal.currency
    return body


def _amount(amount: Decimal, currency: str, document_currency: str) -> Decimal:
    if currency != document_currency:
        raise PermanentError(f"a line in {currency} on a {document_currency} document")
    return amount
