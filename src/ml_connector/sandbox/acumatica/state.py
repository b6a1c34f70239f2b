"""The Acumatica sandbox's in-memory world: records per entity, API sessions and tokens (each one
taking a licence seat), running actions, and the request counter tests read.

Records are stored with plain values; ``app.py`` wraps them into ``{"value": …}`` on the way out.
"""

from __future__ import annotations

import random
import secrets
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ml_connector.clock import Clock
from ml_connector.sandbox.catalog import MARKETPLACES, products
from ml_connector.transport.ratelimit import TokenBucket

SUPPORTED_VERSIONS = ("23.200.001", "24.200.001")
TENANT = "MLSandbox"
USERNAME = "admin"
PASSWORD = "sandbox-password"  # the sandbox's invented credentials; not a secret of any real system
CLIENT_ID = "8E0761D9-F4EC-2D4B-A60F-BCE2708C6FDD@" + TENANT
CLIENT_SECRET = "sandbox-client-secret"
AR_CONTROL_ACCOUNT = "11000"
CLEARING_ACCOUNT = "13990"


@dataclass
class EntityDef:
    keys: tuple[str, ...]
    number_field: str | None = None
    number_format: str = "{:06d}"
    details: tuple[str, ...] = ()


ENTITIES: dict[str, EntityDef] = {
    "Account": EntityDef(("AccountCD",)),
    "Customer": EntityDef(("CustomerID",)),
    "SalesInvoice": EntityDef(("Type", "ReferenceNbr"), "ReferenceNbr", "INV{:06d}", ("Details",)),
    "SalesOrder": EntityDef(("OrderType", "OrderNbr"), "OrderNbr", "SO{:06d}", ("Details",)),
    "JournalTransaction": EntityDef(("Module", "BatchNbr"), "BatchNbr", "{:06d}", ("Details",)),
    "Payment": EntityDef(("Type", "ReferenceNbr"), "ReferenceNbr", "PMT{:06d}", ("DocumentsToApply",)),
    "StockItem": EntityDef(("InventoryID",), details=("CrossReferences", "WarehouseDetails")),
    "Subaccount": EntityDef(("SubaccountCD",)),
    "Shipment": EntityDef(("ShipmentNbr",), "ShipmentNbr", "SHP{:06d}", ("Details", "Packages", "Orders")),
}
INQUIRIES = ("InventoryQuantityAvailable",)
# Where `_links."files:put"` points: the graph and the primary (or detail) view of each entity's
# form, as …/files/{GraphType}/{ViewName}/{id}/{filename}.
FILE_VIEWS: dict[str, tuple[str, str, str]] = {
    "Account": ("PX.Objects.GL.AccountMaint", "AccountRecords", ""),
    "Customer": ("PX.Objects.AR.CustomerMaint", "BAccount", ""),
    "SalesInvoice": ("PX.Objects.SO.SOInvoiceEntry", "Document", "Transactions"),
    "SalesOrder": ("PX.Objects.SO.SOOrderEntry", "Document", "Transactions"),
    "JournalTransaction": ("PX.Objects.GL.JournalEntry", "BatchModule", "GLTranModuleBatNbr"),
    "Payment": ("PX.Objects.AR.ARPaymentEntry", "Document", "Adjustments"),
    "StockItem": ("PX.Objects.IN.InventoryItemMaint", "Item", "itemxrefrecords"),
    "Subaccount": ("PX.Objects.GL.SubAccountMaint", "SubRecords", ""),
    "Shipment": ("PX.Objects.SO.SOShipmentEntry", "Document", "Transactions"),
}
BUSY = "The previous operation has not been completed yet."
ACTIONS = {
    ("SalesInvoice", "ReleaseSalesInvoice"): "Open",
    ("JournalTransaction", "ReleaseJournalTransaction"): "Posted",
    ("Payment", "ReleasePayment"): "Closed",
    ("SalesOrder", "ReleaseFromHold"): "Open",
}


@dataclass
class ApiSession:
    session_id: str
    kind: str  # "cookie" or "oauth"
    user: str
    last_used: float
    idle_timeout: float
    closed: bool = False

    def alive(self, now: float) -> bool:
        return not self.closed and now < self.last_used + self.idle_timeout


@dataclass
class Token:
    session_id: str
    expires_at: float


@dataclass
class RefreshChain:
    session_id: str
    current: str
    started: float


@dataclass
class Job:
    """A long-running action: the server applies it at ``done_at`` whether anyone polls or not;
    ``failure`` is the message of one that fails in the background (the record stays as it was)."""

    entity: str
    record_id: str
    new_status: str
    done_at: float
    failure: str | None = None
    finished: bool = False


@dataclass
class SandboxConfig:
    versions: tuple[str, ...] = SUPPORTED_VERSIONS
    max_sessions: int = 2  # a trial licence's API users
    login_limit_status: int = 429  # real builds answer 429 or 500
    cookie_idle_seconds: float = 600.0
    token_seconds: float = 3600.0
    refresh_chain_seconds: float = 30 * 24 * 3600.0
    requests_per_minute: float = 6000.0
    burst: float = 200.0
    action_seconds: float = 2.0
    advanced_so_invoices: bool = True
    lost_reply_rate: float = 0.0  # a write that is done but whose reply is lost (504): the hard case
    lost_reply_seed: int = 5
    ar_control_accounts: frozenset[str] = frozenset({AR_CONTROL_ACCOUNT})
    known_accounts: frozenset[str] = field(default_factory=lambda: _SANDBOX_CHART)
    inactive_accounts: frozenset[str] = frozenset()  # in the chart, but closed (Active = false)
    subaccounts: frozenset[str] = frozenset({"000000"})


def _default_mapping_accounts() -> frozenset[str]:
    """The sandbox tenant's chart includes the shipped default settlement mapping's accounts, as a
    tenant set up for ml-connector would, so that the demo posts with the default rules."""
    import tomllib
    from importlib.resources import files

    data = tomllib.loads(files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8"))
    accounts = {str(value) for value in data.get("accounts", {}).values()}
    accounts |= {str(rule["account"]) for rule in data.get("rule", []) if "account" in rule}
    return frozenset(a for a in accounts if not a.startswith("@"))


_SANDBOX_CHART: frozenset[str] = (
    frozenset(
        {
            "10200",
            "10250",
            AR_CONTROL_ACCOUNT,
            CLEARING_ACCOUNT,
            "40000",
            "49000",
            "64010",
            "64020",
            "64030",
            "21000",
            "12500",
        }
    )
    | _default_mapping_accounts()
)


@dataclass
class AcumaticaSandbox:
    clock: Clock
    seed: int = 7
    config: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, ApiSession] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh: dict[str, RefreshChain] = {}
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self.files: dict[str, list[dict[str, Any]]] = {}  # record id -> attached files
        self.numbers: Counter[str] = Counter()
        self.jobs: dict[str, Job] = {}
        self._pending: list[Job] = []  # jobs not yet applied (settling never rescans finished ones)
        self.requests: Counter[str] = Counter()
        self.login_refusals = 0
        self.lost_replies = 0
        self.throttled = 0
        self._lost_rng = random.Random(self.config.lost_reply_seed)
        self.bucket = TokenBucket(self.config.requests_per_minute / 60.0, self.config.burst, clock=self.clock)
        self._seed_items()
        self._seed_accounts()

    @property
    def records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every entity's records, with the background work that is due applied first."""
        self.settle_jobs()
        return self._records

    # -- sessions --------------------------------------------------------------------------------

    @property
    def open_sessions(self) -> int:
        now = self.clock.monotonic()
        with self.lock:
            return sum(1 for session in self.sessions.values() if session.alive(now))

    @property
    def unclosed_sessions(self) -> int:
        """Sessions never signed out, expired ones included: what a leaking client leaves behind."""
        with self.lock:
            return sum(1 for session in self.sessions.values() if not session.closed)

    def expire_idle(self) -> int:
        """Drop the sessions whose idle time or token ran out, as the server does (a client that
        died without signing out holds its seat until then); returns how many were dropped."""
        now = self.clock.monotonic()
        with self.lock:
            stale = [s for s in self.sessions.values() if not s.closed and not s.alive(now)]
        for session in stale:
            self.close_session(session.session_id)
        return len(stale)

    def open_session(self, kind: str, user: str) -> ApiSession | None:
        """A new API session, or None when every licence seat is taken."""
        now = self.clock.monotonic()
        with self.lock:
            if self.open_sessions >= self.config.max_sessions:
                self.login_refusals += 1
                return None
            timeout = self.config.cookie_idle_seconds if kind == "cookie" else self.config.token_seconds
            session = ApiSession(secrets.token_hex(12), kind, user, now, timeout)
            self.sessions[session.session_id] = session
            return session

    def close_session(self, session_id: str) -> None:
        with self.lock:
            session = self.sessions.get(session_id)
            if session:
                session.closed = True
            for token, value in list(self.tokens.items()):
                if value.session_id == session_id:
                    del self.tokens[token]
            for token, chain in list(self.refresh.items()):
                if chain.session_id == session_id:
                    del self.refresh[token]

    def issue_tokens(self, session_id: str, started: float | None = None) -> dict[str, Any]:
        now = self.clock.monotonic()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[access] = Token(session_id, now + self.config.token_seconds)
            self.refresh[refresh] = RefreshChain(session_id, refresh, now if started is None else started)
            session = self.sessions[session_id]
            session.last_used = now
        return {
            "access_token": access,
            "expires_in": int(self.config.token_seconds),
            "token_type": "Bearer",
            "scope": "api offline_access",
            "refresh_token": refresh,
        }

    def session_id_of(self, access: str | None, cookie: str | None) -> str | None:
        """Whose session a sign-out names, expired or not."""
        with self.lock:
            if access:
                token = self.tokens.get(access)
                return token.session_id if token else None
            return cookie if cookie in self.sessions else None

    def session_for_token(self, access: str, force_expired: bool = False) -> ApiSession | None:
        now = self.clock.monotonic()
        with self.lock:
            token = self.tokens.get(access)
            if token is None or force_expired or now >= token.expires_at:
                return None
            session = self.sessions.get(token.session_id)
            if session is None or session.closed:
                return None
            session.last_used = now
            return session

    def session_for_cookie(self, session_id: str | None, force_expired: bool = False) -> ApiSession | None:
        now = self.clock.monotonic()
        with self.lock:
            session = self.sessions.get(session_id or "")
            if session is not None and (force_expired or not session.alive(now)):
                session.closed = True  # the server timed it out: the seat is free, the cookie dead
            if session is None or not session.alive(now):
                return None
            session.last_used = now
            return session

    def lose_reply(self) -> bool:
        """Whether this completed write's reply is lost (drawn from the seeded generator)."""
        with self.lock:
            lost = self._lost_rng.random() < self.config.lost_reply_rate
            self.lost_replies += lost
            return lost

    # -- records ---------------------------------------------------------------------------------

    def now_text(self) -> str:
        return self.clock.now().isoformat(timespec="milliseconds")

    def next_number(self, entity: str) -> str:
        definition = ENTITIES[entity]
        self.numbers[entity] += 1
        return definition.number_format.format(self.numbers[entity])

    def find_by_keys(self, entity: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        definition = ENTITIES[entity]
        for record in self.records[entity].values():
            if all(str(record.get(k)) == v for k, v in zip(definition.keys, keys, strict=False)) and len(
                keys
            ) == len(definition.keys):
                return record
        return None

    def _seed_accounts(self) -> None:
        """The tenant's chart of accounts (the Account entity), as GL301000 would list it."""
        for number in sorted(self.config.known_accounts | self.config.inactive_accounts):
            record: dict[str, Any] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"acumatica-account-{number}")),
                "AccountCD": number,
                "Description": f"Account {number}",
                "Active": number not in self.config.inactive_accounts,
                "Type": {"1": "Asset", "2": "Liability", "4": "Income"}.get(number[:1], "Expense"),
                "CashAccount": number in ("10200", "1020"),
                "CurrencyID": "GBP",
                "LastModifiedDateTime": self.now_text(),
            }
            self.records["Account"][record["id"]] = record
        for number in sorted(self.config.subaccounts):
            record = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"acumatica-subaccount-{number}")),
                "SubaccountCD": number,
                "Description": f"Subaccount {number}",
                "Active": True,
            }
            self.records["Subaccount"][record["id"]] = record

    def _seed_items(self) -> None:
        # The sandbox tenant is the UK seller's books (base currency GBP): prices in pounds.
        uk = next(m for m in MARKETPLACES.values() if m.country_code == "GB").marketplace_id
        for product in products(self.seed):
            if product.acumatica_item is None:
                continue
            record: dict[str, Any] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"acumatica-item-{product.acumatica_item}")),
                "InventoryID": product.acumatica_item,
                "Description": product.title,
                "ItemStatus": "Active",
                "ItemType": "Finished Good",
                "BaseUOM": "EA",
                "DefaultWarehouseID": "MAIN",
                "DefaultPrice": product.price(uk),
                "LastModified": self.now_text(),
                "LastModifiedDateTime": self.now_text(),
                "CrossReferences": [
                    {"AlternateID": product.sku, "AlternateType": "Global", "Description": product.title}
                ],
                "WarehouseDetails": [
                    {"WarehouseID": "MAIN", "QtyOnHand": Decimal(product.on_hand), "IsDefault": True}
                ],
            }
            self.records["StockItem"][record["id"]] = record

    def qty_available(self, inventory_id: str) -> Decimal:
        item = self.find_by_keys("StockItem", (inventory_id,))
        if item is None:
            return Decimal(0)
        on_hand = sum(
            (row.get("QtyOnHand") or Decimal(0) for row in item.get("WarehouseDetails", [])), Decimal(0)
        )
        committed = Decimal(0)
        for entity, qty_field in (("SalesInvoice", "Qty"), ("SalesOrder", "OrderQty")):
            for record in self.records[entity].values():
                for line in record.get("Details", []):
                    if line.get("InventoryID") == inventory_id:
                        committed += Decimal(str(line.get(qty_field) or 0))
        return on_hand - committed

    def ship_order(
        self, order_nbr: str, tracking_nbr: str, ship_via: str = "UPS", order_type: str = "SO"
    ) -> str:
        """A warehouse user ships a sales order in full and confirms the shipment (done in the
        ERP's UI, not through the API): a Confirmed Shipment with its package and lines."""
        with self.lock:
            order = self.find_by_keys("SalesOrder", (order_type, order_nbr))
            if order is None:
                raise KeyError(f"no sales order {order_type} {order_nbr}")
            number = self.next_number("Shipment")
            now = self.now_text()
            record = {
                "id": str(uuid.uuid4()),
                "ShipmentNbr": number,
                "Type": "Shipment",
                "Status": "Confirmed",
                "CustomerID": order["CustomerID"],
                "ShipmentDate": self.clock.now().date().isoformat() + "T00:00:00+00:00",
                "ShipVia": ship_via,
                "WarehouseID": "MAIN",
                "CreatedDateTime": now,
                "LastModifiedDateTime": now,
                "Details": [
                    {
                        "id": str(uuid.uuid4()),
                        "LineNbr": index + 1,
                        "OrderType": order_type,
                        "OrderNbr": order_nbr,
                        "OrderLineNbr": line.get("LineNbr", index + 1),
                        "InventoryID": line.get("InventoryID"),
                        "ShippedQty": line.get("OrderQty"),
                    }
                    for index, line in enumerate(order.get("Details", []))
                ],
                "Orders": [
                    {
                        "id": str(uuid.uuid4()),
                        "OrderType": order_type,
                        "OrderNbr": order_nbr,
                        "ShipmentNbr": number,
                    }
                ],
                "Packages": [
                    {
                        "id": str(uuid.uuid4()),
                        "LineNbr": 1,
                        "BoxID": "BOX",
                        "TrackingNbr": tracking_nbr,
                        "Confirmed": True,
                    }
                ],
            }
            self.records["Shipment"][record["id"]] = record
            order["Status"] = "Completed"
            return number

    def start_job(
        self, entity: str, record_id: str, new_status: str, failure: str | None = None
    ) -> str | None:
        """Start a long-running action on a record; None while another one still runs on it (the
        server refuses a second long operation on the same document)."""
        with self.lock:
            self.settle_jobs()
            if any(j.record_id == record_id for j in self._pending):
                return None
            job_id = str(uuid.uuid4())
            done_at = self.clock.monotonic() + self.config.action_seconds
            self.jobs[job_id] = job = Job(entity, record_id, new_status, done_at, failure)
            self._pending.append(job)
            return job_id

    def settle_jobs(self) -> None:
        """Apply every action whose time has come, once: the release happens on the server after
        its delay whether or not the client polls its status URL."""
        if not self._pending:
            return
        now = self.clock.monotonic()
        with self.lock:
            due = [job for job in self._pending if now >= job.done_at]
            for job in due:
                self._pending.remove(job)
                job.finished = True
                record = self._records[job.entity].get(job.record_id)
                if record is not None and job.failure is None:
                    record["Status"] = job.new_status
                    record["LastModifiedDateTime"] = self.now_text()

    def poll_job(self, job_id: str) -> Job | None:
        """The job behind a status URL (None if unknown), settled first."""
        with self.lock:
            self.settle_jobs()
            return self.jobs.get(job_id)


def parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)
