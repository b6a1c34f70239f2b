"""AcumaticaTarget: the ERP protocol over the contract-based REST API.

Each write is query-first by the key the document carries, written into a searchable header field:
Customer by its deterministic CustomerID (get by key, the cheapest read), SalesInvoice and
SalesOrder by CustomerOrder (ExternalRef from 24.200.001 on), JournalTransaction by a Description
that holds the settlement reference. Inserts send ``If-None-Match: *`` so a duplicate can never
overwrite. The adapter holds one session for its life and signs it out in ``close()`` (use it as a
context manager), so no licence seat is left taken even when a posting fails.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from ml_connector.errors import MlConnectorError, PermanentError
from ml_connector.model.documents import (
    CreditNoteDocument,
    CustomerDocument,
    Document,
    JournalDocument,
    SalesDocument,
)
from ml_connector.model.money import Money
from ml_connector.model.orders import ShipmentConfirmation, StockLevel
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.endpoint import fetch_instance_info, require_version
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string
from ml_connector.transport.clock import SYSTEM_CLOCK, Clock
from ml_connector.transport.retry import RetryPolicy

BUYER_ID_ATTEMPTS = 5  # CustomerID candidates tried for a buyer before a person is asked

RELEASED_JOURNAL = {"Posted", "Unposted"}
RELEASED_INVOICE = {"Open", "Closed"}
SHIPPED = {"Confirmed", "Completed", "Invoiced"}


class AcumaticaTarget:
    """One Acumatica connection as the flows and the posting engine see it."""

    name = "acumatica"

    def __init__(
        self,
        settings: AcumaticaSettings,
        credentials: AcumaticaCredentials,
        *,
        clock: Clock = SYSTEM_CLOCK,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self._clock = clock
        self._retry = retry
        self.client = AcumaticaClient(settings, credentials, clock=clock, http=http, retry=retry)
        self._item_map: dict[str, str] | None = None
        self._chart: dict[str, dict[str, Any]] | None = None  # the Account entity, read once
        self._subaccounts: dict[str, dict[str, Any]] | None = None  # the Subaccount entity, read once
        self._items: list[dict[str, Any]] = []
        self._marketplaces: dict[str, str] = {}

    def __enter__(self) -> AcumaticaTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Sign out: frees the licence seat (and forgets the tokens)."""
        self.client.close()

    # -- posting protocol ------------------------------------------------------------------------

    def find(self, document: Document) -> str | None:
        if isinstance(document, CustomerDocument):
            return self._find_customer(document)
        if isinstance(document, SalesDocument):
            return self._find_sales(document)
        if isinstance(document, CreditNoteDocument):
            return self._find_credit_memo(document)
        if isinstance(document, JournalDocument):
            return self._find_journal(document)
        raise PermanentError(f"Acumatica cannot post a {type(document).__name__}")

    def post(self, document: Document) -> str:
        if isinstance(document, CustomerDocument):
            if document.buyer and document.key not in self.settings.customer_ids:
                return self._post_buyer(document)
            record = self.client.put(
                "Customer", bodies.customer_body(self.settings, document), insert_only=True
            )
            return str(record["CustomerID"])
        if isinstance(document, SalesDocument):
            return self._post_sales(document)
        if isinstance(document, CreditNoteDocument):
            return self._post_credit_memo(document)
        if isinstance(document, JournalDocument):
            return self._post_journal(document)
        raise PermanentError(f"Acumatica cannot post a {type(document).__name__}")

    def find_all(self, document: Document) -> list[str]:
        """Every Acumatica record holding the document's key (reads only: nothing is released)."""
        if isinstance(document, CustomerDocument):
            found = self._find_customer(document)  # keyed by CustomerID: at most one
            return [] if found is None else [found]
        if isinstance(document, SalesDocument):
            entity, condition = self._sales_filter(document)
            number = "OrderNbr" if entity == "SalesOrder" else "ReferenceNbr"
            rows = self.client.list(entity, filter=condition, select=number)
            return list(dict.fromkeys(str(row[number]) for row in rows))
        if isinstance(document, CreditNoteDocument):
            field = "ExternalRef" if self.settings.has_external_ref else "CustomerOrder"
            condition = f"Type eq 'Credit Memo' and {field} eq {odata_string(document.key)}"
            rows = self.client.list("SalesInvoice", filter=condition, select="ReferenceNbr")
            return list(dict.fromkeys(str(row["ReferenceNbr"]) for row in rows))
        if isinstance(document, JournalDocument):
            description = odata_string(bodies.journal_description(document))
            rows = self.client.list(
                "JournalTransaction",
                filter=f"Module eq 'GL' and Description eq {description}",
                select="BatchNbr",
            )
            return list(dict.fromkeys(str(row["BatchNbr"]) for row in rows))
        raise PermanentError(f"Acumatica cannot post a {type(document).__name__}")

    def _find_customer(self, document: CustomerDocument) -> str | None:
        if document.buyer and document.key not in self.settings.customer_ids:
            rows = self.client.list(
                "Customer",
                filter=f"AccountRef eq {odata_string(document.key)}",
                select="CustomerID,AccountRef",
                top=2,
            )
            return str(rows[0]["CustomerID"]) if rows else None
        record = self.client.get_by_keys(
            "Customer", bodies.customer_id(self.settings, document), select="CustomerID"
        )
        return None if record is None else str(record["CustomerID"])

    def _post_buyer(self, document: CustomerDocument) -> str:
        """A buyer's customer under the first CustomerID candidate no other key holds (find has
        just said no customer holds this key)."""
        for attempt in range(BUYER_ID_ATTEMPTS):
            number = bodies.buyer_customer_id(document.key, attempt)
            holder = self.client.get_by_keys("Customer", number, select="CustomerID,AccountRef")
            if holder is None:
                body = bodies.customer_body(self.settings, document, number)
                return str(self.client.put("Customer", body, insert_only=True)["CustomerID"])
            if holder.get("AccountRef") == document.key:
                return number
        raise PermanentError(
            f"customer {document.key}: every CustomerID tried is held by another customer; "
            "name one in the connection's customer_ids"
        )

    def _sales_filter(self, document: SalesDocument) -> tuple[str, str]:
        key = odata_string(document.key)
        if document.kind == "sales_order":
            return "SalesOrder", f"OrderType eq 'SO' and CustomerOrder eq {key}"
        field = "ExternalRef" if self.settings.has_external_ref else "CustomerOrder"
        return "SalesInvoice", f"Type eq 'Invoice' and {field} eq {key}"

    def _find_sales(self, document: SalesDocument) -> str | None:
        entity, condition = self._sales_filter(document)
        number = "OrderNbr" if entity == "SalesOrder" else "ReferenceNbr"
        rows = self.client.list(entity, filter=condition, select=f"{number},Status", top=2)
        if not rows:
            return None
        record = rows[0]
        if (
            entity == "SalesInvoice"
            and self.settings.release_invoices
            and record.get("Status") not in RELEASED_INVOICE
        ):
            self.client.invoke("SalesInvoice", "ReleaseSalesInvoice", {"id": record["id"]})
        return str(record[number])

    def _post_sales(self, document: SalesDocument) -> str:
        if not document.lines:
            raise PermanentError(f"order {document.key} has no lines to invoice")
        if document.kind == "sales_order":
            record = self.client.put(
                "SalesOrder", bodies.sales_order_body(self.settings, document), insert_only=True
            )
            return str(record["OrderNbr"])
        if document.kind != "sales_invoice":
            raise PermanentError(f"unknown sales document kind {document.kind!r}")
        record = self.client.put(
            "SalesInvoice", bodies.sales_invoice_body(self.settings, document), insert_only=True
        )
        if self.settings.release_invoices:
            self.client.invoke("SalesInvoice", "ReleaseSalesInvoice", {"id": record["id"]})
        return str(record["ReferenceNbr"])

    def _find_credit_memo(self, document: CreditNoteDocument) -> str | None:
        """By the order id, on Credit Memos only (the order's invoice holds the same key); one
        saved but not released by a crash in between is released here."""
        field = "ExternalRef" if self.settings.has_external_ref else "CustomerOrder"
        condition = f"Type eq 'Credit Memo' and {field} eq {odata_string(document.key)}"
        rows = self.client.list("SalesInvoice", filter=condition, select="ReferenceNbr,Status", top=2)
        if not rows:
            return None
        record = rows[0]
        if self.settings.release_invoices and record.get("Status") not in RELEASED_INVOICE:
            self.client.invoke("SalesInvoice", "ReleaseSalesInvoice", {"id": record["id"]})
        return str(record["ReferenceNbr"])

    def _post_credit_memo(self, document: CreditNoteDocument) -> str:
        if not document.lines:
            raise PermanentError(f"credit note for order {document.key} has no lines")
        record = self.client.put(
            "SalesInvoice", bodies.credit_memo_body(self.settings, document), insert_only=True
        )
        if self.settings.release_invoices:
            self.client.invoke("SalesInvoice", "ReleaseSalesInvoice", {"id": record["id"]})
        return str(record["ReferenceNbr"])

    def _find_journal(self, document: JournalDocument) -> str | None:
        """The batch by its Description; a batch saved but not yet released (a crash between the
        two calls) is released here, so the protocol's query-first step finishes the job. A release
        Acumatica had accepted before the crash goes on on the server: found still running, the
        second release is refused as busy (TransientError) and the next find sees it posted."""
        condition = f"Module eq 'GL' and Description eq {odata_string(bodies.journal_description(document))}"
        rows = self.client.list("JournalTransaction", filter=condition, select="BatchNbr,Status", top=2)
        if not rows:
            return None
        batch = rows[0]
        if self.settings.invoice_settlement == "payment" and self._clearing_applications(document):
            self._ensure_payment(document)
        if self.settings.release_journals and batch.get("Status") not in RELEASED_JOURNAL:
            self.client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": batch["id"]})
        return str(batch["BatchNbr"])

    def _post_journal(self, document: JournalDocument) -> str:
        bodies.check_journal(self.settings, document)
        record = self.client.put(
            "JournalTransaction", bodies.journal_body(self.settings, document), insert_only=True
        )
        if self.settings.invoice_settlement == "payment" and self._clearing_applications(document):
            self._ensure_payment(document)
        if self.settings.release_journals:
            self.client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": record["id"]})
        return str(record["BatchNbr"])

    # -- reads for reconcile ---------------------------------------------------------------------

    def document_total(self, kind: str, key: str, currency: str) -> Money | None:
        """The ERP's total of the document carrying ``key``: a sales invoice's Amount, a journal
        batch's total debit; None when there is no such document. Reads only (reconcile)."""
        if kind == "sales_invoice":
            field = "ExternalRef" if self.settings.has_external_ref else "CustomerOrder"
            rows = self.client.list(
                "SalesInvoice",
                filter=f"Type eq 'Invoice' and {field} eq {odata_string(key)}",
                select="ReferenceNbr,Amount,Currency",
                top=1,
            )
            if not rows:
                return None
            return Money(Decimal(str(rows[0].get("Amount") or 0)), rows[0].get("Currency") or currency)
        if kind == "journal":
            description = odata_string(f"{bodies.JOURNAL_PREFIX}{key}")
            rows = self.client.list(
                "JournalTransaction",
                filter=f"Module eq 'GL' and Description eq {description}",
                select="BatchNbr,CurrencyID,Details/DebitAmount",
                expand="Details",
                top=1,
            )
            if not rows:
                return None
            debit = sum(
                (Decimal(str(d.get("DebitAmount") or 0)) for d in rows[0].get("Details") or ()), Decimal(0)
            )
            return Money(debit, rows[0].get("CurrencyID") or currency)
        raise NotImplementedError(f"Acumatica cannot read a {kind} total")

    # -- invoice mode: payment applied to the invoices ------------------------------------------

    def _clearing_applications(self, document: JournalDocument) -> dict[str, Decimal]:
        """Amazon order id -> amount the settlement collected for it (net credit on the clearing
        account), from the clearing lines that name an order."""
        account = self.settings.clearing_account
        result: dict[str, Decimal] = {}
        for line in document.journal.lines:
            if account and line.account == account and line.reference:
                result[line.reference] = (
                    result.get(line.reference, Decimal(0)) + (line.credit - line.debit).amount
                )
        return {order: amount for order, amount in result.items() if amount > 0}

    def _ensure_payment(self, document: JournalDocument) -> str:
        """One AR Payment per settlement (PaymentRef = the key; found first), from the clearing
        cash account, applied to each order's invoice: the receivable is cleared in AR, never by
        a GL line on the AR control account."""
        if not self.settings.payment_cash_account:
            raise PermanentError(
                "invoice_settlement = 'payment' needs payment_cash_account (a cash account over the clearing account)"
            )
        reference = document.key[:40]
        found = self.client.list(
            "Payment",
            filter=f"Type eq 'Payment' and PaymentRef eq {odata_string(reference)}",
            select="ReferenceNbr",
            top=1,
        )
        if found:
            return str(found[0]["ReferenceNbr"])
        applications = []
        customer = None
        for order, amount in self._clearing_applications(document).items():
            invoices = self.client.list(
                "SalesInvoice",
                filter=f"Type eq 'Invoice' and CustomerOrder eq {odata_string(order)}",
                select="ReferenceNbr,CustomerID",
                top=1,
            )
            if not invoices:
                raise PermanentError(
                    f"settlement {document.key}: no Acumatica invoice for order {order} to apply the payment to"
                )
            customer = customer or invoices[0]["CustomerID"]
            applications.append(
                {"DocType": "Invoice", "ReferenceNbr": invoices[0]["ReferenceNbr"], "AmountPaid": amount}
            )
        total = sum((row["AmountPaid"] for row in applications), Decimal(0))
        record = self.client.put(
            "Payment",
            {
                "Type": "Payment",
                "CustomerID": customer,
                "PaymentMethod": self.settings.payment_method,
                "CashAccount": self.settings.payment_cash_account,
                "PaymentRef": reference,
                "PaymentAmount": total,
                "ApplicationDate": document.journal.posting_date,
                "Description": bodies.journal_description(document),
                "Hold": False,
                "DocumentsToApply": applications,
            },
            insert_only=True,
        )
        return str(record["ReferenceNbr"])

    # -- items, stock, shipments -----------------------------------------------------------------

    def _load_items(self) -> dict[str, str]:
        """SKU -> InventoryID from the connector map, then the items' cross-references (read once,
        paged; detail collections cannot be filtered), then SKUs that are InventoryIDs."""
        if self._item_map is None:
            mapping: dict[str, str] = {}
            self._items = list(
                self.client.iterate(
                    "StockItem",
                    filter="ItemStatus eq 'Active'",
                    select="InventoryID,Description,DefaultPrice,CrossReferences/AlternateID,CrossReferences/AlternateType",
                    expand="CrossReferences",
                )
            )
            for item in self._items:
                mapping.setdefault(str(item["InventoryID"]), str(item["InventoryID"]))
            for item in self._items:
                for reference in item.get("CrossReferences") or []:
                    if reference.get(
                        "AlternateType"
                    ) in self.settings.cross_reference_types and reference.get("AlternateID"):
                        mapping[str(reference["AlternateID"])] = str(item["InventoryID"])
            mapping.update(self.settings.sku_map)
            self._item_map = mapping
        return self._item_map

    def resolve_items(self, skus: Sequence[str]) -> dict[str, str | None]:
        mapping = self._load_items()
        return {sku: mapping.get(sku) for sku in skus}

    def item_candidates(self, sku: str, limit: int = 3) -> list[str]:
        self._load_items()
        names = {str(item["InventoryID"]): str(item.get("Description") or "") for item in self._items}
        scored = sorted(
            names,
            key=lambda item_id: (
                -max(
                    difflib.SequenceMatcher(None, sku.upper(), item_id.upper()).ratio(),
                    difflib.SequenceMatcher(None, sku.upper(), names[item_id].upper()).ratio(),
                )
            ),
        )
        return scored[:limit]

    def stock_levels(self, skus: Sequence[str]) -> list[StockLevel]:
        """Price from StockItem.DefaultPrice (base currency) and quantity from the
        InventoryQuantityAvailable inquiry (22.200.001+), read once for all items. Unmapped SKUs
        are left out: ``resolve_items`` reports them, each on its own record."""
        resolved = {sku: item for sku, item in self.resolve_items(skus).items() if item}
        if not resolved:
            return []
        prices = {str(item["InventoryID"]): item.get("DefaultPrice") for item in self._items}
        rows = self.client.inquire("InventoryQuantityAvailable", {})
        available = {str(row.get("InventoryID")): row.get("QtyAvailable") for row in rows}
        levels = []
        for sku, item_id in resolved.items():
            quantity = available.get(item_id)
            price = prices.get(item_id)
            levels.append(
                StockLevel(
                    sku=sku,
                    item_id=item_id,
                    quantity=max(0, int(Decimal(str(quantity or 0)))),
                    price=Money(Decimal(str(price)), self.settings.base_currency)
                    if price is not None
                    else None,
                    warehouse=self.settings.warehouse,
                )
            )
        return levels

    def shipped_orders(self, since: datetime) -> Iterable[ShipmentConfirmation]:
        """Confirmed shipments changed since ``since``, for the Amazon orders posted as sales
        orders: Shipment.Details name the order lines (OrderType/OrderNbr/OrderLineNbr), the order's
        CustomerOrder is the Amazon order id and its lines' ExternalRef the Amazon order item ids,
        Packages carry the tracking numbers and ShipVia the carrier. Direct SO invoices have no
        shipment, so orders posted as invoices never appear here."""
        orders: dict[tuple[str, str], dict | None] = {}
        for shipment in self.client.modified_since("Shipment", since, expand="Details,Packages"):
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
                    orders[key] = self.client.get_by_keys(
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
                self.client.get_by_keys("Customer", customer_id, select="CustomerID,AccountRef")
                if customer_id
                else None
            )
            reference = str((record or {}).get("AccountRef") or "")
            self._marketplaces[customer_id] = (
                reference.removeprefix("MKT-") if reference.startswith("MKT-") else ""
            )
        return self._marketplaces[customer_id]

    # -- health ----------------------------------------------------------------------------------

    def booking_rate(self, currency: str, bank_currency: str, on: date) -> tuple[Decimal | None, str]:
        """The ledger's exchange rate: the Default endpoint has no currency-rate entity (its
        ``Currency`` entity carries none, in 23.200.001 and 24.200.001), so Acumatica cannot say;
        a converted payout is then booked at Amazon's rate and its line says so."""
        return None, (
            f"Acumatica's {self.settings.endpoint_name}/{self.settings.endpoint_version} endpoint has no currency-rate entity to "
            f"read the {bank_currency}/{currency} rate from"
        )

    def check_accounts(
        self, accounts: Iterable[str], dimensions: Iterable[tuple[str, str]] = ()
    ) -> list[str]:
        """Against the Account entity (read once per adapter life): exists, active, not a control
        account (``ar_control_accounts``: Acumatica refuses manual entries on those); and the
        subaccounts the lines carry (or ``default_subaccount``) against the Subaccount entity. The
        branch has no entity in the Default endpoint: Acumatica itself refuses an unknown one."""
        if self._chart is None:
            self._chart = {
                str(record.get("AccountCD") or ""): record
                for record in self.client.iterate("Account", select="AccountCD,Active,Description,Type")
            }
        problems = []
        for account in sorted(set(accounts)):
            record = self._chart.get(account)
            if record is None:
                problems.append(f"account {account} is not in Acumatica's chart of accounts (Account entity)")
            elif record.get("Active") is False:
                problems.append(
                    f"account {account} ({record.get('Description') or ''}) is inactive in Acumatica"
                )
            elif account in self.settings.ar_control_accounts:
                problems.append(
                    f"account {account} is an AR control account: Acumatica refuses manual entries on it"
                )
        subaccounts = {value for name, value in dimensions if name == "subaccount"}
        subaccounts.add(self.settings.default_subaccount)
        if self._subaccounts is None:
            self._subaccounts = {
                str(record.get("SubaccountCD") or ""): record
                for record in self.client.iterate("Subaccount", select="SubaccountCD,Active")
            }
        for value in sorted(v for v in subaccounts if v):
            record = self._subaccounts.get(value)
            if record is None:
                problems.append(f"subaccount {value} is not in Acumatica (Subaccount entity)")
            elif record.get("Active") is False:
                problems.append(f"subaccount {value} is inactive in Acumatica")
        return problems

    def check(self) -> list[str]:
        """The endpoint version is offered, and a sign-in works (signed out again at once, with a
        client of its own so the adapter's session is untouched)."""
        problems: list[str] = []
        try:
            info = fetch_instance_info(self.client.http, self.settings.url)
            require_version(info, self.settings.endpoint_name, self.settings.endpoint_version)
        except MlConnectorError as exc:
            return [str(exc)]
        except httpx.HTTPError as exc:
            return [f"Acumatica at {self.settings.url} is unreachable ({type(exc).__name__})"]
        probe = AcumaticaClient(
            self.settings, self._credentials, clock=self._clock, http=self.client.http, retry=self._retry
        )
        try:
            probe.list("Customer", select="CustomerID", top=1)
        except MlConnectorError as exc:
            problems.append(str(exc))
        finally:
            probe.close()
        return problems

    @property
    def call_count(self) -> int:
        return self.client.call_count
