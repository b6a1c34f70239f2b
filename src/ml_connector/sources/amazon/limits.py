"""Amazon's default usage plans and the client-side limiter that keeps a run inside them.

One bucket per (seller, operation) at the documented rate and burst (SP-API.md §5), so a steady run
waits on its own bucket instead of collecting 429s. A 429 lowers that bucket's rate (Amazon's live
plan may be lower than the default); each success restores it gradually; an
``x-amzn-RateLimit-Limit`` header resets the ceiling to what Amazon says it really is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.transport.ratelimit import TokenBucket

if TYPE_CHECKING:
    from ml_connector.engine.buckets import SharedBuckets


@dataclass(frozen=True)
class UsagePlan:
    rate: float  # requests per second (token refill)
    burst: int  # bucket size


# Operation names are Amazon's operationIds; v0 twins of 2026 names carry a "V0" suffix.
USAGE_PLANS: dict[str, UsagePlan] = {
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getOrdersV0": UsagePlan(0.0167, 20),
    "getOrderV0": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "getOrderAddress": UsagePlan(0.5, 30),
    "getOrderBuyerInfo": UsagePlan(0.5, 30),
    "confirmShipment": UsagePlan(2, 10),
    "listFinancialEventGroups": UsagePlan(0.5, 30),
    "listFinancialEventsByGroupId": UsagePlan(0.5, 30),
    "listFinancialEventsByOrderId": UsagePlan(0.5, 30),
    "listFinancialEvents": UsagePlan(0.5, 30),
    "listTransactions": UsagePlan(0.5, 10),
    "listBalances": UsagePlan(0.5, 10),
    "listSummary": UsagePlan(0.5, 10),
    "listPayouts": UsagePlan(0.5, 10),
    "getReports": UsagePlan(0.0222, 10),
    "createReport": UsagePlan(0.0167, 15),
    "getReport": UsagePlan(2, 15),
    "getReportDocument": UsagePlan(0.0167, 15),
    "createRestrictedDataToken": UsagePlan(1, 10),
    "createFeedDocument": UsagePlan(0.5, 15),
    "createFeed": UsagePlan(0.0083, 15),
    "getFeed": UsagePlan(2, 15),
    "getFeedDocument": UsagePlan(0.0222, 10),
    "getListingsItem": UsagePlan(5, 10),
    "patchListingsItem": UsagePlan(5, 5),
    "searchListingsItems": UsagePlan(5, 5),
    "getMarketplaceParticipations": UsagePlan(0.016, 15),
    "getAccount": UsagePlan(0.016, 15),
}


class AdaptiveBucket:
    """A TokenBucket whose rate backs off on 429 and recovers on success.

    ``margin`` (< 1) paces slightly under the plan so that network jitter between our clock and
    Amazon's never lets us arrive a hair early on an empty bucket.
    """

    BACKOFF = 0.5  # rate multiplier on a 429
    RECOVERY = 1.25  # rate multiplier per success, up to the ceiling
    FLOOR = 1 / 8  # never below this share of the ceiling

    def __init__(self, plan: UsagePlan, *, clock: Clock, margin: float = 0.97, name: str = "") -> None:
        self.name = name  # the SP-API operation, for "waiting for Amazon's rate limit on NAME"
        self._clock = clock
        self.margin = margin
        self.ceiling = plan.rate * margin
        self.bucket = TokenBucket(self.ceiling, plan.burst, clock=clock)
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self.bucket.rate

    def acquire(self) -> float:
        wait = self.bucket.reserve()
        if wait > 0:
            from ml_connector.transport.waits import announce

            announce(f"Amazon rate limit for {self.name or 'this operation'}", wait)
            self._clock.sleep(wait)
        return wait

    def throttled(self) -> None:
        """Amazon's bucket is empty: empty ours too, and refill it more slowly for a while."""
        with self._lock:
            self.bucket.set_rate(max(self.ceiling * self.FLOOR, self.bucket.rate * self.BACKOFF))
            banked = self.bucket.available
            if banked > 0:
                self.bucket.reserve(banked)

    def succeeded(self) -> None:
        with self._lock:
            if self.bucket.rate < self.ceiling:
                self.bucket.set_rate(min(self.ceiling, self.bucket.rate * self.RECOVERY))

    def observe_limit(self, limit: float) -> None:
        """Amazon told us the live rate for this seller, app and operation."""
        with self._lock:
            ceiling = limit * self.margin
            if ceiling > 0:
                self.ceiling = ceiling
                if self.bucket.rate > ceiling:
                    self.bucket.set_rate(ceiling)


class SharedAdaptiveBucket:
    """An AdaptiveBucket whose tokens and rate live in the store, shared by every worker process.

    Same behaviour (pace under the plan, halve on a 429, recover per success, follow
    ``x-amzn-RateLimit-Limit``), one database round trip per take; a success costs another only while
    the rate is below its ceiling."""

    def __init__(
        self,
        shared: SharedBuckets,
        name: str,
        plan: UsagePlan,
        *,
        clock: Clock,
        margin: float,
        operation: str = "",
    ) -> None:
        self.shared, self.name, self.plan = shared, name, plan
        self.operation = operation  # for "waiting for Amazon's rate limit on OPERATION"
        self.margin = margin
        self._clock = clock
        self._rate = plan.rate * margin
        self._ceiling = self._rate

    @property
    def rate(self) -> float:
        return self._rate

    def acquire(self) -> float:
        take = self.shared.take(self.name, rate=self.plan.rate * self.margin, burst=self.plan.burst)
        self._rate, self._ceiling = take.rate, take.ceiling
        if take.wait > 0:
            from ml_connector.transport.waits import announce

            announce(f"Amazon rate limit for {self.operation or 'this operation'}", take.wait)
            self._clock.sleep(take.wait)
        return take.wait

    def throttled(self) -> None:
        rate = self.shared.throttled(self.name, backoff=AdaptiveBucket.BACKOFF, floor=AdaptiveBucket.FLOOR)
        if rate is not None:
            self._rate = rate

    def succeeded(self) -> None:
        if self._rate < self._ceiling:
            rate = self.shared.recover(self.name, recovery=AdaptiveBucket.RECOVERY)
            if rate is not None:
                self._rate = rate

    def observe_limit(self, limit: float) -> None:
        ceiling = limit * self.margin
        if ceiling > 0 and abs(ceiling - self._ceiling) > 1e-9:
            rate = self.shared.set_ceiling(self.name, ceiling)
            self._ceiling = ceiling
            if rate is not None:
                self._rate = rate


class RateLimiter:
    """The buckets of one client (one seller): created on first use of an operation.

    With ``shared`` (a PostgreSQL store's buckets) they live in the store under ``key``, so every
    worker of the deployment paces the seller's calls together; otherwise in this process."""

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        margin: float = 0.97,
        shared: SharedBuckets | None = None,
        key: str = "",
    ) -> None:
        self._clock = clock
        self._margin = margin
        self._shared = shared
        self._key = key
        self._buckets: dict[str, AdaptiveBucket | SharedAdaptiveBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, operation: str) -> AdaptiveBucket | SharedAdaptiveBucket:
        with self._lock:
            if operation not in self._buckets:
                plan = USAGE_PLANS.get(operation, UsagePlan(0.5, 10))
                if self._shared is not None:
                    self._buckets[operation] = SharedAdaptiveBucket(
                        self._shared,
                        f"amazon|{self._key}|{operation}",
                        plan,
                        clock=self._clock,
                        margin=self._margin,
                        operation=operation,
                    )
                else:
                    self._buckets[operation] = AdaptiveBucket(
                        plan, clock=self._clock, margin=self._margin, name=operation
                    )
            return self._buckets[operation]


_SHARED: dict[tuple[str, int, int], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def limiter_for(seller_key: str, clock: Clock, shared: SharedBuckets | None = None) -> RateLimiter:
    """The one RateLimiter of a seller (and app) in this process: Amazon counts every call of
    that seller against the same buckets, so every client of that seller must share them (and, with
    ``shared``, every worker of the deployment too)."""
    with _SHARED_LOCK:
        key = (seller_key, id(clock), id(shared))
        if key not in _SHARED:
            _SHARED[key] = RateLimiter(clock=clock, shared=shared, key=hashed(seller_key))
        return _SHARED[key]


def hashed(seller_key: str) -> str:
    """A stable, short bucket name for a seller (the key holds the client id: never store it plain)."""
    import hashlib

    return hashlib.sha256(seller_key.encode()).hexdigest()[:32]
