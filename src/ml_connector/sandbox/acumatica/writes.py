"""PUT semantics of the sandbox: upsert by keys or id, If-None-Match / If-Match, number assignment,
detail rows appended unless matched by id, and 422 validation echoing the entity with errors."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector.sandbox.acumatica.contract import fields
from ml_connector.sandbox.acumatica.state import ENTITIES, AcumaticaSandbox

REQUIRED = {
    "Customer": ("CustomerID", "CustomerName"),
    "SalesInvoice": ("CustomerID",),
    "SalesOrder": ("CustomerID",),
    "JournalTransaction": (),
    "Payment": ("CustomerID", "PaymentAmount", "CashAccount"),
    "StockItem": ("InventoryID",),
    "Shipment": ("CustomerID",),
}
REQUIRED_DETAIL = {
    "SalesInvoice": ("InventoryID", "Qty"),
    "SalesOrder": ("InventoryID", "OrderQty"),
    "JournalTransaction": ("Account",),
}
DEFAULT_TYPE = {
    "SalesInvoice": ("Type", "Invoice"),
    "SalesOrder": ("OrderType", "SO"),
    "JournalTransaction": ("Module", "GL"),
    "Payment": ("Type", "Payment"),
}
CACHE_NAME = {
    "SalesInvoice": "SO Invoice",
    "SalesOrder": "Sales Order",
    "JournalTransaction": "Batch",
    "Payment": "Payment",
    "Customer": "Customer",
}

CUSTOMER_ID_LENGTH = 10  # the default tenant's CUSTOMER segmented key (BAccount.AcctCD)


class Rejected(Exception):
    """A 422: ``echo`` is the plain record with ``errors`` per field path."""

    def __init__(self, echo: dict[str, Any], errors: dict[str, str], message: str) -> None:
        super().__init__(message)
        self.echo = echo
        self.errors = errors
        self.message = message


class Conflict(Exception):
    """412 for If-None-Match: * on an existing record or If-Match: * on a missing one."""


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def upsert(
    sandbox: AcumaticaSandbox,
    entity: str,
    version: str,
    body: dict[str, Any],
    *,
    if_none_match: bool,
    if_match: bool,
) -> dict[str, Any]:
    definition = ENTITIES[entity]
    contract = fields(version, entity)
    for name in list(body):
        if name not in contract and name not in ("id", "delete"):
            body.pop(name)  # not in this version's contract: the API ignores it
    if entity in DEFAULT_TYPE:
        name, value = DEFAULT_TYPE[entity]
        body.setdefault(name, value)
    with sandbox.lock:
        existing = None
        if body.get("id"):
            existing = sandbox.records[entity].get(str(body["id"]))
        if existing is None and all(body.get(k) not in (None, "", "<NEW>") for k in definition.keys):
            existing = sandbox.find_by_keys(entity, tuple(str(body[k]) for k in definition.keys))
        if existing is not None and if_none_match:
            raise Conflict(f"{entity} already exists")
        if existing is None and if_match:
            raise Conflict(f"{entity} does not exist")
        merged = dict(existing or {})
        for name, value in body.items():
            if name in definition.details:
                rows = [dict(row) for row in merged.get(name, [])]
                for row in value or []:
                    match = next((r for r in rows if row.get("id") and r.get("id") == row.get("id")), None)
                    if match is not None and row.get("delete"):
                        rows.remove(match)
                    elif match is not None:
                        match.update(row)
                    elif not row.get("delete"):
                        rows.append({**row, "id": str(uuid.uuid4())})
                merged[name] = rows
            elif name not in ("rowNumber", "_links", "custom", "note"):
                merged[name] = value
        errors = _validate(sandbox, entity, merged)
        if errors:
            if existing is None and definition.number_field:
                merged[definition.number_field] = "<NEW>"
            verb = "Updating" if existing else "Inserting"
            raise Rejected(
                merged,
                errors,
                f"{verb}  '{CACHE_NAME.get(entity, entity)}' record raised at least one error. Please review the errors.",
            )
        if existing is None:
            merged["id"] = str(uuid.uuid4())
            if definition.number_field and merged.get(definition.number_field) in (None, "", "<NEW>"):
                merged[definition.number_field] = sandbox.next_number(entity)
            merged.setdefault("CreatedDateTime", sandbox.now_text())
        _derive(entity, merged)
        _with_offsets(contract, version, merged)
        merged["LastModifiedDateTime"] = merged["LastModified"] = sandbox.now_text()
        sandbox.records[entity][merged["id"]] = merged
        return merged


def with_offset(value: Any) -> Any:
    """A date the client sent, as the server echoes it: with its offset (a date without one is
    taken in the tenant's zone, UTC here), milliseconds kept as given."""
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        return value[:-1] + "+00:00" if value.endswith("Z") else value
    if len(value) == 10:  # a bare date: midnight
        return value + "T00:00:00+00:00"
    return value + "+00:00"


def _with_offsets(contract: dict[str, str], version: str, record: dict[str, Any]) -> None:
    for name, kind in contract.items():
        if kind == "DateTimeValue" and name in record:
            record[name] = with_offset(record[name])
        elif kind.endswith("[]") and isinstance(record.get(name), list):
            detail = fields(version, kind[:-2])
            for row in record[name]:
                if isinstance(row, dict):
                    _with_offsets(detail, version, row)


def _validate(sandbox: AcumaticaSandbox, entity: str, record: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name in REQUIRED.get(entity, ()):
        if record.get(name) in (None, ""):
            errors[name] = f"'{name}' cannot be empty."
    if entity == "Customer" and len(str(record.get("CustomerID") or "")) > CUSTOMER_ID_LENGTH:
        errors["CustomerID"] = (  # the CUSTOMER segmented key of a default tenant: one segment of 10
            f"The value of 'Customer ID' is longer than the {CUSTOMER_ID_LENGTH} characters of its segmented key."
        )
    if (
        entity in ("SalesInvoice", "SalesOrder", "Payment")
        and record.get("CustomerID")
        and sandbox.find_by_keys("Customer", (str(record["CustomerID"]),)) is None
    ):
        errors["CustomerID"] = "'Customer' cannot be found in the system."
    for index, row in enumerate(record.get("Details", []) if entity in REQUIRED_DETAIL else []):
        for name in REQUIRED_DETAIL[entity]:
            if row.get(name) in (None, ""):
                errors[f"Details[{index}].{name}"] = f"'{name}' cannot be empty."
        if entity in ("SalesInvoice", "SalesOrder") and row.get("InventoryID"):
            if sandbox.find_by_keys("StockItem", (str(row["InventoryID"]),)) is None:
                errors[f"Details[{index}].InventoryID"] = "'Inventory ID' cannot be found in the system."
            elif entity == "SalesInvoice" and not sandbox.config.advanced_so_invoices:
                errors[f"Details[{index}].InventoryID"] = (
                    "A line with a stock item cannot be added because the Advanced SO Invoices feature is disabled."
                )
        if entity == "JournalTransaction" and row.get("Account"):
            account = str(row["Account"])
            if account not in sandbox.config.known_accounts:
                errors[f"Details[{index}].Account"] = "'Account' cannot be found in the system."
            elif account in sandbox.config.inactive_accounts:
                errors[f"Details[{index}].Account"] = f"The {account} account is inactive."
            elif account in sandbox.config.ar_control_accounts:
                errors[f"Details[{index}].Account"] = (
                    f"The {account} account is a control account of the AR module and cannot be used in manual entries."
                )
    if entity in ("SalesInvoice", "SalesOrder", "JournalTransaction") and not record.get("Details"):
        errors.setdefault("Details", "The document has no lines.")
    if entity == "JournalTransaction" and not errors and record.get("Hold") is False:
        debit = sum(
            (_decimal(r.get("DebitAmount")) or Decimal(0) for r in record.get("Details", [])), Decimal(0)
        )
        credit = sum(
            (_decimal(r.get("CreditAmount")) or Decimal(0) for r in record.get("Details", [])), Decimal(0)
        )
        if debit != credit:
            errors["Hold"] = "Batch is out of balance, please review."
    return errors


def _derive(entity: str, record: dict[str, Any]) -> None:
    """Read-only fields Acumatica computes on save."""
    for index, row in enumerate(record.get("Details", [])):
        row.setdefault("LineNbr", index + 1)
    if entity == "SalesInvoice":
        amount = sum(
            (_decimal(r.get("Qty")) or 0) * (_decimal(r.get("UnitPrice")) or 0)
            for r in record.get("Details", [])
        )
        for row in record.get("Details", []):
            row["Amount"] = (_decimal(row.get("Qty")) or 0) * (_decimal(row.get("UnitPrice")) or 0)
        record["Amount"] = record["Balance"] = Decimal(amount)
        record.setdefault("Status", "On Hold" if record.get("Hold") else "Balanced")
    elif entity == "SalesOrder":
        record["OrderTotal"] = sum(
            (_decimal(r.get("OrderQty")) or 0) * (_decimal(r.get("UnitPrice")) or 0)
            for r in record.get("Details", [])
        )
        record.setdefault("Status", "On Hold" if record.get("Hold") else "Open")
    elif entity == "JournalTransaction":
        record.setdefault("Status", "On Hold" if record.get("Hold") else "Balanced")
        record.setdefault("LedgerID", "ACTUAL")
    elif entity == "Payment":
        record.setdefault("Status", "On Hold" if record.get("Hold") else "Balanced")
    elif entity == "Customer":
        record.setdefault("Status", "Active")
