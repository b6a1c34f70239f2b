"""The SP-API sandbox's in-memory state: the seller's world, LWA tokens, usage-plan buckets, reports,
feeds and listings, plus the hooks tests and the demo use (``app.state.sandbox``).
"""

from __future__ import annotations

import gzip
import io
import itertools
import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from ml_connector.clock import Clock
from ml_connector.sandbox.amazon.world import (
    CENT,
    US_TAX_RATE,
    Planted,
    SandboxItem,
    SandboxOrder,
    SandboxSettlement,
    World,
    generate,
)
from ml_connector.sandbox.catalog import MARKETPLACES, products
from ml_connector.settlement.writer import V2_REPORT_TYPE, write_flat_file_v2
from ml_connector.sources.amazon.limits import USAGE_PLANS
from ml_connector.transport.ratelimit import TokenBucket

TOKEN_LIFETIME = 3600
DOCUMENT_URL_LIFETIME = 300  # presigned document URLs expire after five minutes
SELLER_ID = "A3SANDBOXSELLER"


@dataclass(frozen=True)
class SandboxCredentials:
    """What the sandbox's LWA accepts (printed by `ml-connector sandbox serve` for `connect amazon --sandbox-url`)."""

    client_id: str = "amzn1.application-oa2-client.sandbox0000000000000000"
    client_secret: str = field(default="amzn1.oa2-cs.v1.sandbox-secret", repr=False)
    refresh_token: str = field(default="Atzr|sandbox-refresh-token", repr=False)


@dataclass
class IssuedToken:
    kind: str  # access | grantless | rdt
    expires_at: float  # clock.monotonic()
    resources: tuple[dict, ...] = ()  # RDT only


@dataclass
class SandboxReport:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    created: datetime
    queued_at: float  # clock.monotonic() when it entered IN_QUEUE
    queue_seconds: float
    work_seconds: float
    document_id: str
    data_start: datetime | None = None
    data_end: datetime | None = None
    settlement: SandboxSettlement | None = None

    def status(self, now: float) -> str:
        if now < self.queued_at + self.queue_seconds:
            return "IN_QUEUE"
        if now < self.queued_at + self.queue_seconds + self.work_seconds:
            return "IN_PROGRESS"
        return "DONE"


@dataclass
class SandboxFeed:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    created: datetime
    queued_at: float
    document_id: str
    result_document_id: str | None = None

    def status(self, now: float) -> str:
        if now < self.queued_at + 30:
            return "IN_QUEUE"
        if now < self.queued_at + 90:
            return "IN_PROGRESS"
        return "DONE"


@dataclass
class Listing:
    sku: str
    asin: str
    title: str
    marketplace_id: str
    price: Decimal
    quantity: int
    created: datetime
    updated: datetime
    attributes: dict = field(default_factory=dict)


class SandboxState:
    """Everything the sandbox knows. Thread-safe enough for one uvicorn worker plus test threads."""

    def __init__(
        self, *, clock: Clock, seed: int = 7, order_count: int = 300, days: int = 60, rate_limits: bool = True
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.credentials = SandboxCredentials()
        self.rate_limits = rate_limits
        self.world: World = generate(clock.now(), seed=seed, order_count=order_count, days=days)
        self.lock = threading.RLock()
        self.tokens: dict[str, IssuedToken] = {}
        self.revoked_refresh_tokens: set[str] = set()
        self.client_secret_expired = False
        self.buckets: dict[str, TokenBucket] = {}
        self.live_rates: dict[str, float] = {}  # dynamic usage plans: operation -> rate
        self.calls: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.documents: dict[str, tuple[bytes, str]] = {}  # id -> (content, content type)
        self.uploads: dict[str, bytes | None] = {}  # feed document id -> uploaded body
        self.reports: dict[str, SandboxReport] = {}
        self.feeds: dict[str, SandboxFeed] = {}
        self.confirmed_shipments: list[dict] = []
        self.listing_patches: list[dict] = []
        self.feeds_received: list[dict] = []
        self.listings: dict[tuple[str, str], Listing] = {}
        self.planted = Planted()  # differences planted in Amazon's own figures (plant())
        self._ids = itertools.count(50000)
        self._build_listings()
        self._build_settlement_reports()

    # -- hooks for tests and the demo ------------------------------------------------------------

    def plant(
        self,
        *,
        balance: tuple[str, str, Decimal] | None = None,
        summary: tuple[str, Decimal] | None = None,
        payout: tuple[str, Decimal | None, str | None] | None = None,
    ) -> None:
        """Plant a difference in Amazon's own figures: ``balance=(marketplace id, balance type,
        delta)`` in listBalances, ``summary=(settlement id, delta)`` in listSummary's net proceeds,
        ``payout=(settlement id, amount delta or None, status or None)`` in listPayouts."""
        with self.lock:
            if balance:
                key = (balance[0], balance[1])
                self.planted.balances[key] = self.planted.balances.get(key, Decimal(0)) + balance[2]
            if summary:
                self.planted.summaries[summary[0]] = summary[1]
            if payout:
                entry = self.planted.payouts.setdefault(payout[0], {})
                if payout[1] is not None:
                    entry["amount"] = payout[1]
                if payout[2]:
                    entry["status"] = payout[2]

    def deferred_events(self) -> list:
        """The shipment events Amazon deferred (DD7 / B2B), released or not."""
        return [e for e in self.world.events if e.deferral]

    @property
    def orders(self) -> list[SandboxOrder]:
        return self.world.orders

    def order(self, order_id: str) -> SandboxOrder | None:
        return self.world.order(order_id)

    def set_order_status(self, order_id: str, status: str) -> None:
        """Advance an order (e.g. Pending -> Unshipped, or Unshipped -> Shipped); it becomes visible
        to lastUpdatedAfter searches two minutes later, as on Amazon."""
        with self.lock:
            order = self.world.order(order_id)
            if order is None:
                raise KeyError(order_id)
            order.status = status
            order.last_updated = self.clock.now()

    def place_order(
        self, marketplace_id: str = "ATVPDKIKX0DER", *, channel: str = "MFN", quantity: int = 1
    ) -> SandboxOrder:
        """A new order arriving now (Unshipped, one catalogue item): the demo's live traffic."""
        with self.lock:
            rng = random.Random(f"{self.seed}-{len(self.world.orders)}")
            market = MARKETPLACES[marketplace_id]
            product = rng.choice(products(self.seed))
            unit = product.price(marketplace_id)
            tax = (
                (unit * quantity * US_TAX_RATE).quantize(CENT) if market.country_code == "US" else Decimal(0)
            )
            shipping = Decimal("4.99") if channel == "MFN" else Decimal(0)
            now = self.clock.now()
            number = len(self.world.orders) + 1
            order = SandboxOrder(
                order_id=f"{rng.randint(100, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}",
                marketplace=market,
                purchase=now,
                last_updated=now,
                status="Unshipped",
                channel=channel,
                items=[
                    SandboxItem(str(rng.randint(10**13, 10**14 - 1)), product, quantity, unit, tax, shipping)
                ],
                buyer_name="Pat Example",
                buyer_email=f"pat{number}@marketplace.amazon.example",
                street="1 Demo Way",
                city=market.name,
                postal_code="10001",
                seller_order_id=f"SO-{number:06d}",
            )
            self.world.add_order(order)
            return order

    def revoke_authorization(self) -> None:
        self.revoked_refresh_tokens.add(self.credentials.refresh_token)
        self.tokens.clear()

    def next_id(self) -> str:
        return str(next(self._ids))

    # -- auth -------------------------------------------------------------------------------------

    def issue(self, kind: str, resources: tuple[dict, ...] = ()) -> str:
        prefix = {"access": "Atza|", "grantless": "Atza|g", "rdt": "Atz.sprdt|"}[kind]
        token = prefix + secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = IssuedToken(kind, self.clock.monotonic() + TOKEN_LIFETIME, resources)
        return token

    def token(self, value: str | None) -> IssuedToken | None:
        if not value:
            return None
        issued = self.tokens.get(value)
        if issued is None or self.clock.monotonic() >= issued.expires_at:
            return None
        return issued

    # -- rate limits ------------------------------------------------------------------------------

    def rate(self, operation: str) -> float:
        """The operation's live rate (what x-amzn-RateLimit-Limit reports)."""
        return self.live_rates.get(operation, USAGE_PLANS[operation].rate)

    def set_live_rate(self, operation: str, rate: float) -> None:
        """Give this seller a different usage plan for one operation (Amazon's dynamic plans)."""
        with self.lock:
            self.live_rates[operation] = rate
            if operation in self.buckets:
                self.buckets[operation].set_rate(rate)

    def admit(self, operation: str) -> bool:
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            if not self.rate_limits:
                return True
            bucket = self.buckets.get(operation)
            if bucket is None:
                plan = USAGE_PLANS[operation]
                bucket = self.buckets[operation] = TokenBucket(
                    self.rate(operation), plan.burst, clock=self.clock
                )
        if bucket.try_take():
            return True
        with self.lock:
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
        return False

    # -- documents --------------------------------------------------------------------------------

    def add_document(self, content: bytes, content_type: str, *, gzip_it: bool) -> str:
        document_id = f"amzn1.spdoc.1.4.na.{secrets.token_hex(12)}"
        self.documents[document_id] = (gzip.compress(content) if gzip_it else content, content_type)
        return document_id

    # -- generation -------------------------------------------------------------------------------

    def _build_listings(self) -> None:
        created = self.world.origin - timedelta(days=400)
        for product in products(self.seed):
            for marketplace_id in MARKETPLACES:
                self.listings[(product.sku, marketplace_id)] = Listing(
                    sku=product.sku,
                    asin=product.asin,
                    title=product.title,
                    marketplace_id=marketplace_id,
                    price=product.price(marketplace_id),
                    quantity=product.on_hand,
                    created=created,
                    updated=created,
                )

    def _build_settlement_reports(self) -> None:
        """One V2 report per closed settlement, created the day after its period ends; the newest
        is still being produced when the sandbox starts (IN_QUEUE, then IN_PROGRESS, then DONE)."""
        closed = [s for s in self.world.settlements if s.closed]
        newest_end = max((s.end for s in closed), default=None)
        start = self.clock.monotonic()
        for settlement in closed:
            fresh = settlement.end == newest_end
            created = min(settlement.end + timedelta(hours=20), self.world.origin)
            buffer = io.BytesIO()
            write_flat_file_v2(
                settlement.as_settlement(), settlement.lines(), buffer, locale=settlement.marketplace.locale
            )
            report_id = self.next_id() + "019"
            self.reports[report_id] = SandboxReport(
                report_id=report_id,
                report_type=V2_REPORT_TYPE,
                marketplace_ids=[settlement.marketplace.marketplace_id],
                created=created,
                queued_at=start if fresh else start - 10_000,
                queue_seconds=120 if fresh else 0,
                work_seconds=480 if fresh else 0,
                document_id=self.add_document(buffer.getvalue(), "text/plain", gzip_it=True),
                data_start=settlement.start,
                data_end=settlement.end,
                settlement=settlement,
            )
