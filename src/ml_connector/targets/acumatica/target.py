"""AcumaticaTarget: the ERP protocol over the contract-based REST API, one poster per document kind
(customers, sales and credit memos, journals, the AR payments of payment mode) and one reader each
for items and shipments, as the M3 target is laid out.

Each write is query-first by the key the document carries, written into a searchable header field:
Customer by its deterministic CustomerID (get by key, the cheapest read), SalesInvoice and
SalesOrder by CustomerOrder (ExternalRef from 24.200.001 on), JournalTransaction by a Description
that holds the settlement reference. Inserts send ``If-None-Match: *`` so a duplicate can never
overwrite. The adapter holds one session for its life and signs it out in ``close()`` (use it as a
context manager), so no licence seat is left taken even when a posting fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import MlConnectorError, PermanentError
from ml_connector.model.documents import (
    CreditNoteDocument,
    CustomerDocument,
    Document,
    JournalDocument,
    PaymentDocument,
    SalesDocument,
)
from ml_connector.model.money import Money
from ml_connector.model.orders import ShipmentConfirmation, StockLevel
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.customers import CustomerPoster
from ml_connector.targets.acumatica.endpoint import fetch_instance_info, require_version
from ml_connector.targets.acumatica.items import ItemReader
from ml_connector.targets.acumatica.journals import JournalPoster
from ml_connector.targets.acumatica.payments import PaymentPoster
from ml_connector.targets.acumatica.sales import CreditMemoPoster, SalesPoster
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
from ml_connector.targets.acumatica.shipments import ShipmentReader
from ml_connector.transport.retry import RetryPolicy

Poster = CustomerPoster | SalesPoster | CreditMemoPoster | JournalPoster | PaymentPoster


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
        self._customers = CustomerPoster(self.client, settings)
        self._sales = SalesPoster(self.client, settings)
        self._credit_memos = CreditMemoPoster(self.client, settings)
        self._payments = PaymentPoster(self.client, settings)
        self._journals = JournalPoster(self.client, settings)
        self._items = ItemReader(self.client, settings)
        self._shipments = ShipmentReader(self.client)
        self._chart: dict[str, dict[str, Any]] | None = None  # the Account entity, read once
        self._subaccounts: dict[str, dict[str, Any]] | None = None  # the Subaccount entity, read once

    def __enter__(self) -> AcumaticaTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Sign out: frees the licence seat (and forgets the tokens)."""
        self.client.close()

    # -- posting protocol ------------------------------------------------------------------------

    def find(self, document: Document) -> str | None:
        return self._poster(document).find(document)  # type: ignore[arg-type]  # the poster of its kind

    def post(self, document: Document) -> str:
        return self._poster(document).post(document)  # type: ignore[arg-type]

    def find_all(self, document: Document) -> list[str]:
        """Every Acumatica record holding the document's key (reads only: nothing is released)."""
        return self._poster(document).find_all(document)  # type: ignore[arg-type]

    def _poster(self, document: Document) -> Poster:
        if isinstance(document, CustomerDocument):
            return self._customers
        if isinstance(document, SalesDocument):
            return self._sales
        if isinstance(document, CreditNoteDocument):
            return self._credit_memos
        if isinstance(document, JournalDocument):
            return self._journals
        if isinstance(document, PaymentDocument):
            return self._payments
        raise PermanentError(f"Acumatica cannot post a {type(document).__name__}")

    # -- reads -----------------------------------------------------------------------------------

    def document_total(self, kind: str, key: str, currency: str) -> Money | None:
        """The ERP's total of the document carrying ``key``: a sales invoice's Amount, a journal
        batch's total debit; None when there is no such document. Reads only (reconcile)."""
        if kind == "sales_invoice":
            return self._sales.invoice_total(key, currency)
        if kind == "journal":
            return self._journals.total(key, currency)
        raise NotImplementedError(f"Acumatica cannot read a {kind} total")

    def resolve_items(self, skus: Sequence[str]) -> dict[str, str | None]:
        return self._items.resolve(skus)

    def item_candidates(self, sku: str, limit: int = 3) -> list[str]:
        return self._items.candidates(sku, limit)

    def stock_levels(self, skus: Sequence[str]) -> list[StockLevel]:
        return self._items.stock_levels(skus)

    def shipped_orders(self, since: datetime) -> Iterable[ShipmentConfirmation]:
        return self._shipments.shipped_orders(since)

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
