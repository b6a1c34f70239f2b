"""SpApiClient: one seller's SP-API connection (credentials, host, buckets, retry policy, clock)
and, bound as its methods, the operations ml-connector uses, one module per API family in
``sources/amazon/api/`` (orders, finances, reports, listings, feeds, tokens, sellers).

Paged operations are generators that follow their next-page token through the one paginator
(``api/paging.follow``, which stops a loop), lazily: a caller that stops early costs no further
calls. ``transport.calls`` counts attempts per operation (what the benchmark and the demo quote as
calls per order). Main order path: Orders 2026-01-01 ``searchOrders``; Orders v0 is the fallback.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.sources.amazon.api import feeds, finances, listings, orders, reports, sellers, tokens
from ml_connector.sources.amazon.auth import LwaAuth, LwaCredentials
from ml_connector.sources.amazon.limits import limiter_for
from ml_connector.sources.amazon.regions import LWA_TOKEN_URL, region
from ml_connector.sources.amazon.transport import SpApiTransport
from ml_connector.transport.retry import RetryPolicy
from ml_connector.transport.urls import require_secure_url

if TYPE_CHECKING:
    from ml_connector.engine.buckets import SharedBuckets


class SpApiClient:
    """One seller's SP-API client.

    The host is the region's (``region_code`` na/eu/fe; Amazon's own sandbox host with
    ``use_amazon_sandbox``) unless ``base_url`` points elsewhere (our sandbox); ``lwa_url`` is the
    LWA token endpoint.
    ``clock`` is shared with the buckets, the token cache and the retry waits.
    """

    def __init__(
        self,
        credentials: LwaCredentials,
        *,
        seller_id: str = "",
        region_code: str = "na",
        use_amazon_sandbox: bool = False,
        base_url: str | None = None,
        lwa_url: str = LWA_TOKEN_URL,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        shared_limits: SharedBuckets | None = None,  # a PostgreSQL store's buckets: pace with every worker
    ) -> None:
        self.seller_id = seller_id
        self.clock = clock
        if base_url is not None:
            require_secure_url(base_url, "the SP-API base URL (the connection's sandbox_url)")
        policy = retry or RetryPolicy(attempts=8, base=1.0, cap=120.0, clock=clock)
        # ``http`` pins one client (tests); otherwise every host's client comes from transport.pool
        self.auth = LwaAuth(credentials, http=http, token_url=lwa_url, clock=clock, retry=policy)
        self.transport = SpApiTransport(
            base_url=base_url or region(region_code).base_url(sandbox=use_amazon_sandbox),
            auth=self.auth,
            http=http,
            clock=clock,
            retry=policy,
            limiter=None,
            timeout=timeout,
        )
        self._http = self.transport.api.http_for(self.transport.base_url)  # the host's client (tests read it)
        self.transport.limiter = limiter_for(
            f"{self.transport.base_url}|{seller_id}|{credentials.client_id}", clock, shared_limits
        )
        self.restricted = tokens.RestrictedTokens(self)  # the Restricted Data Tokens of PII calls

    @classmethod
    def from_connection(
        cls,
        settings: dict,
        secrets: dict,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        shared_limits: SharedBuckets | None = None,
    ) -> SpApiClient:
        """A client for a stored connection (`ml-connector connect amazon`): settings ``region``,
        optional ``sandbox_url`` and ``seller_id``; secrets ``client_id``, ``client_secret``,
        ``refresh_token``. Against a sandbox URL the LWA endpoint is the sandbox's too."""
        sandbox_url = settings.get("sandbox_url")
        credentials = LwaCredentials(
            secrets["client_id"], secrets["client_secret"], secrets.get("refresh_token")
        )
        return cls(
            credentials,
            seller_id=settings.get("seller_id") or ("A3SANDBOXSELLER" if sandbox_url else ""),
            region_code=settings.get("region", "na"),
            base_url=sandbox_url,
            lwa_url=sandbox_url.rstrip("/") + "/auth/o2/token" if sandbox_url else LWA_TOKEN_URL,
            clock=clock,
            retry=retry,
            shared_limits=shared_limits,
        )

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Attempts sent per operation (what the benchmark quotes as calls per order)."""
        return self.transport.calls

    @property
    def throttled(self) -> Counter[str]:
        """429 answers per operation."""
        return self.transport.throttled

    def close(self) -> None:
        """Nothing to release: the host's connections belong to the process's pool."""

    def __enter__(self) -> SpApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the operations, one module per API family (``client.search_orders(...)`` and so on) -------

    search_orders = orders.search_orders
    get_order = orders.get_order
    get_orders_v0 = orders.get_orders_v0  # fallback: Amazon removes Orders v0 reads on 2027-03-27
    get_order_v0 = orders.get_order_v0
    get_order_address = orders.get_order_address
    confirm_shipment = orders.confirm_shipment

    list_financial_event_groups = finances.list_financial_event_groups
    list_financial_events_by_group = finances.list_financial_events_by_group  # fallback until 2027-08-27
    list_transactions = finances.list_transactions

    list_settlement_reports = reports.list_settlement_reports
    get_report = reports.get_report
    create_report = reports.create_report
    download_report = reports.download_report
    wait_for_report = reports.wait_for_report
    download_document = reports.download_document

    get_listings_item = listings.get_listings_item
    list_listings = listings.list_listings
    get_listing_state = listings.get_listing_state
    patch_listings_item = listings.patch_listings_item

    submit_listings_feed = feeds.submit_listings_feed
    get_feed = feeds.get_feed
    get_feed_result = feeds.get_feed_result

    create_restricted_data_token = tokens.create_restricted_data_token
    get_marketplace_participations = sellers.get_marketplace_participations
