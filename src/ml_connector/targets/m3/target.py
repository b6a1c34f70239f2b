"""M3Target: the Infor M3 / CloudSuite ERP behind the ION API gateway, as the ERP protocol.

Writes (journals, customers, sales orders) are find/post pairs for the engine's posting protocol;
reads (items, stock, shipments) are plain calls. One token, one MI client, over the host's pooled client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import ConfigurationError, MlConnectorError, PermanentError
from ml_connector.model.documents import (
    CreditNoteDocument,
    CustomerDocument,
    Document,
    JournalDocument,
    SalesDocument,
)
from ml_connector.model.money import Money
from ml_connector.model.orders import ShipmentConfirmation, StockLevel
from ml_connector.targets.m3.customers import CustomerPoster
from ml_connector.targets.m3.gls840 import dimension_slots
from ml_connector.targets.m3.invoices import InvoiceReader
from ml_connector.targets.m3.ionapi import IonApiFile, load_ionapi
from ml_connector.targets.m3.items import ItemReader
from ml_connector.targets.m3.journals import JournalPoster
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.orders import OrderPoster
from ml_connector.targets.m3.responses import MiError
from ml_connector.targets.m3.settings import M3Settings
from ml_connector.targets.m3.shipments import ShipmentReader
from ml_connector.targets.m3.token import IonTokenClient
from ml_connector.transport.retry import RetryPolicy


class M3Target:
    name = "m3"

    def __init__(
        self,
        ionapi: IonApiFile,
        settings: M3Settings,
        *,
        http: httpx.Client | None = None,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._http = http  # None: the host's client from transport.pool
        retry = retry or RetryPolicy(clock=clock)
        self.tokens = IonTokenClient(ionapi, self._http, clock=clock, retry=retry)
        self.mi = MiClient(
            ionapi,
            self.tokens,
            self._http,
            company=settings.company,
            division=settings.division or None,
            clock=clock,
            retry=retry,
            max_concurrent=settings.max_concurrent,
            rate_per_second=settings.rate_per_second,
            api_version=settings.api_version,
        )
        self._journals = JournalPoster(self.mi, settings)
        self._customers = CustomerPoster(self.mi, settings)
        self._orders = OrderPoster(self.mi, settings)
        self._items = ItemReader(self.mi, settings)
        self._shipments = ShipmentReader(self.mi, settings, self._order_customers)
        self._invoices = InvoiceReader(self.mi, settings, self._order_customers)
        self._chart: frozenset[str] | None = None  # accounts of FCHACC (or chart_accounts), read once
        self._chart_source = ""
        self._identities: frozenset[tuple[int, str]] | None = None  # (dimension, value) of FCHACC
        self._locked: frozenset[tuple[int, str]] = frozenset()  # FCHACC identities blocked (EALCCD = 1)
        self._lock_code_read = False  # whether this tenant's FCHACC answered its lock code

    @classmethod
    def from_file(cls, path: str | Path, settings: M3Settings, **kwargs) -> M3Target:
        return cls(load_ionapi(path), settings, **kwargs)

    # -- posting protocol -------------------------------------------------------------------------

    def find(self, document: Document) -> str | None:
        return self._poster(document).find(document)

    def post(self, document: Document) -> str:
        return self._poster(document).post(document)

    def find_all(self, document: Document) -> list[str]:
        """Every M3 record holding the document's key (more than one is a duplicate to look at)."""
        return self._poster(document).find_all(document)

    def _poster(self, document: Document):
        if isinstance(document, JournalDocument):
            return self._journals
        if isinstance(document, CustomerDocument):
            return self._customers
        if isinstance(document, SalesDocument):
            return self._orders
        if isinstance(document, CreditNoteDocument):
            total = document.total
            raise PermanentError(
                f"order {document.key} was canceled after it was invoiced ({document.invoice_id}): credit "
                f"{total.amount} {total.currency} in M3 by hand (M3's MI API offers the connector no "
                "credit-note transaction); this failed record holds the amount until a person has"
            )
        raise ConfigurationError(f"the M3 target cannot post {type(document).__name__}")

    # -- reads ------------------------------------------------------------------------------------

    def resolve_items(self, skus: Sequence[str]) -> dict[str, str | None]:
        return self._items.resolve(skus)

    def item_candidates(self, sku: str, limit: int = 3) -> list[str]:
        return self._items.candidates(sku, limit)

    def stock_levels(self, skus: Sequence[str]) -> list[StockLevel]:
        return self._items.stock(skus)

    def shipped_orders(self, since: datetime) -> Iterable[ShipmentConfirmation]:
        return list(self._shipments.shipped(since))

    def document_total(self, kind: str, key: str, currency: str) -> Money | None:
        """Reconcile: a journal's posted total debit (GLS200MI), an order's invoiced total (OIS350MI)."""
        if kind == "sales_invoice":
            return self._invoices.total(key, currency)
        if kind != "journal":
            raise NotImplementedError(f"the M3 target does not read back {kind} totals")
        return self._journals.total_debit(key, currency, self._clock.now().date())

    def _order_customers(self) -> list[str]:
        """Whose orders the shipment read looks at: the configured customers, else every customer
        carrying a connector key in its key field (the connector wrote them)."""
        if self.settings.order_customers:
            return list(self.settings.order_customers)
        field = self.settings.customer_key_field
        return [row["CUNO"] for row in self._customers.list_customers() if row.get(field)]

    # -- lifecycle --------------------------------------------------------------------------------

    def _read_chart(self) -> frozenset[str]:
        """The accounting identities (FCHACC: dimension 1 = the accounts) and their lock code
        (``EALCCD``: 1 = blocked, 0 = open) through EXPORTMI.Select; a tenant whose FCHACC has no lock
        code is read without it. Where the tenant locks EXPORTMI, the configured ``chart_accounts``
        list; else a ConfigurationError."""
        if self._chart is None:
            try:
                try:
                    rows = self._select("EAAITP, EAAITM, EALCCD from FCHACC")
                    self._lock_code_read = True
                except MiError as exc:
                    if "EALCCD" not in (exc.target_message or ""):
                        raise
                    rows = self._select("EAAITP, EAAITM from FCHACC")
                identities, locked = set(), set()
                for row in rows:
                    dimension, value, lock = ([*(row.get("REPL") or "").split(";"), "", ""])[:3]
                    if dimension.strip().isdigit() and value.strip():
                        identity = (int(dimension), value.strip())
                        identities.add(identity)
                        if lock.strip() == "1":
                            locked.add(identity)
                self._identities = frozenset(identities)
                self._locked = frozenset(locked)
                self._chart = frozenset(value for dimension, value in identities if dimension == 1)
                self._chart_source = "M3's chart of accounts (FCHACC)"
            except MiError as exc:
                if not self.settings.chart_accounts:
                    raise ConfigurationError(
                        f"cannot read M3's chart of accounts: EXPORTMI.Select on FCHACC answered "
                        f"{exc.target_message!r}; allow it for the service user, or list the accounts "
                        "in chart_accounts of the connection's [m3] table"
                    ) from None
                self._chart = frozenset(self.settings.chart_accounts)
                self._chart_source = "the connection's chart_accounts (EXPORTMI is not allowed)"
        return self._chart

    def _select(self, query: str) -> list[dict[str, str]]:
        return self.mi.call("EXPORTMI", "Select", {"QERY": query, "SEPC": ";"}, maxrecs=0)

    def check_accounts(
        self, accounts: Iterable[str], dimensions: Iterable[tuple[str, str]] = ()
    ) -> list[str]:
        """Accounts (FCHACC dimension 1) and the values of the dimensions sent as AIT2..AIT7
        (``dimension_fields``; FCHACC dimension n), each missing or blocked one named."""
        chart = self._read_chart()
        problems = []
        for account in sorted(set(accounts)):
            if account not in chart:
                problems.append(f"account {account} is not in {self._chart_source}")
            elif (1, account) in self._locked:
                problems.append(
                    f"account {account} is blocked in M3's chart of accounts (FCHACC lock code 1)"
                )
        if self._identities is not None:  # the dimensions' values are known only from FCHACC
            for name, value in sorted(set(dimensions)):
                slot = dimension_slots([(name, value)], self.settings.dimension_fields)
                for ait in slot:
                    identity = (int(ait[3:]), value)
                    if identity not in self._identities:
                        problems.append(f"dimension {name}={value} ({ait}) is not in M3's FCHACC")
                    elif identity in self._locked:
                        problems.append(
                            f"dimension {name}={value} ({ait}) is blocked in M3's FCHACC (lock code 1)"
                        )
        return problems

    def booking_rate(self, currency: str, bank_currency: str, on: date) -> tuple[Decimal | None, str]:
        """The ledger's rate on ``on``: units of ``bank_currency`` per unit of ``currency``, from M3's
        exchange rates (CCURRA, the table CRS055 maintains; read through EXPORTMI.Select, since the MI
        metadata has no rate transaction), rate type ``exchange_rate_type``. ``CUARAT`` is local
        currency (``CULOCD``) per unit of ``CUCUCD``; the newest rate dated on or before ``on`` of the
        division (or of the blank division) is taken. ``(None, why)`` when M3 does not say."""
        crtp = self.settings.exchange_rate_type
        try:
            rows = self._select(f"CUDIVI, CUCUCD, CUCUTD, CUARAT, CULOCD from CCURRA where CUCRTP = {crtp}")
        except MiError as exc:
            return (
                None,
                f"M3's exchange rates could not be read (EXPORTMI.Select on CCURRA: {exc.target_message})",
            )
        division = self.settings.division
        day = int(on.strftime("%Y%m%d"))
        best: dict[str, tuple[int, int, Decimal]] = {}  # currency -> (division match, date, rate)
        local = set()
        for row in rows:
            divi, cucd, cutd, arat, locd = ([*(row.get("REPL") or "").split(";"), "", "", "", ""])[:5]
            divi, cucd, locd = divi.strip(), cucd.strip(), locd.strip()
            if divi not in ("", division) or not cutd.strip().isdigit() or int(cutd) > day:
                continue
            try:
                rate = Decimal(arat.strip().replace(",", "."))
            except InvalidOperation:
                continue
            if rate <= 0:
                continue
            if locd:
                local.add(locd)
            candidate = (int(divi == division), int(cutd), rate)
            if cucd not in best or candidate[:2] > best[cucd][:2]:
                best[cucd] = candidate

        def in_local(code: str) -> Decimal | None:
            if code in local:
                return Decimal(1)
            return best[code][2] if code in best else None

        if not best and not local:
            return (
                None,
                f"M3 holds no exchange rates of rate type {crtp} on or before {on.isoformat()} (CCURRA)",
            )
        ours, bank = in_local(currency), in_local(bank_currency)
        if ours is None or bank is None:
            missing = " and ".join(c for c, r in ((currency, ours), (bank_currency, bank)) if r is None)
            return (
                None,
                f"M3 has no exchange rate for {missing} of rate type {crtp} on or before {on.isoformat()}",
            )
        rate = (ours / bank).quantize(Decimal("0.000001"))
        return rate, f"M3's rate type {crtp} of {on.isoformat()} (CCURRA)"

    def check(self) -> list[str]:
        problems: list[str] = []
        try:
            self.tokens.token()
        except MlConnectorError as exc:
            return [f"ION token: {exc}"]
        settings = self.settings
        if not settings.customer_template:
            problems.append(
                "customer_template is not set: name an M3 customer to copy Amazon customers from (CRS610)"
            )
        else:
            try:
                self.mi.call(
                    "CRS610MI", "GetBasicData", {"CONO": settings.company, "CUNO": settings.customer_template}
                )
            except MiError as exc:
                problems.append(
                    f"template customer {settings.customer_template} in company {settings.company}: {exc.target_message}"
                    " - set customer_template to an existing customer"
                )
            except MlConnectorError as exc:
                problems.append(f"M3 API: {exc}")
        if not settings.warehouse:
            problems.append("warehouse is not set: name the WHLO that ships and stocks the Amazon items")
        return problems

    def close(self) -> None:
        self.tokens.revoke()  # the connections stay in the process's pool

    def __enter__(self) -> M3Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
