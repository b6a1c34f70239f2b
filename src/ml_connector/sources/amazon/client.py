"""SpApiClient: the operations ml-connector uses, over one rate-limited, retrying transport.

Paged operations are generators that follow NextToken / nextToken / pagination.nextToken to the end,
lazily: a caller that stops early costs no further calls. ``transport.calls`` counts attempts per
operation (what the benchmark and the demo quote as calls per order).

Main order path: Orders 2026-01-01 ``searchOrders`` (items inline: one call per 100 orders). The
Orders v0 path (``get_orders_v0``: getOrders + one getOrderItems per order) is the fallback.
Buyer PII is fetched only when a caller asks for it (``pii=True``): via includedData on 2026, via a
Restricted Data Token on v0.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from ml_connector.errors import PermanentError, TransientError
from ml_connector.model import Address, Money, Order, SettlementLine, ShipmentConfirmation
from ml_connector.sources.amazon import finances, mapping
from ml_connector.sources.amazon.auth import LwaAuth, LwaCredentials
from ml_connector.sources.amazon.limits import limiter_for
from ml_connector.sources.amazon.order_pages import OrderPage, OrderPosition
from ml_connector.sources.amazon.regions import LWA_TOKEN_URL, MARKETPLACES, region
from ml_connector.sources.amazon.resources import (
    FeedInfo,
    FinancialEventGroup,
    ListingState,
    ListingSubmission,
    MarketplaceParticipation,
    ReportInfo,
    Transaction,
)
from ml_connector.sources.amazon.transport import SpApiTransport, encode_json, parse_json
from ml_connector.transport.auth import LwaTokenAuth
from ml_connector.transport.clock import SYSTEM_CLOCK, Clock
from ml_connector.transport.retry import RetryPolicy
from ml_connector.transport.urls import require_secure_url
from ml_connector.transport.waits import announce

if TYPE_CHECKING:
    from ml_connector.engine.buckets import SharedBuckets

log = logging.getLogger(__name__)

SETTLEMENT_V2 = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
BEFORE_NOW = timedelta(minutes=2)  # *Before parameters must be at least two minutes in the past
RDT_MARGIN = 60.0
PREPARING = ("IN_QUEUE", "IN_PROGRESS")  # getReport statuses of a report Amazon is still preparing
REPORT_WAIT_LIMIT = 900.0  # seconds one download waits for a report before deferring it
# Carrier codes Amazon accepts as such (a subset of its list); any other carrier goes as "Other" + name.
CARRIER_CODES = frozenset(
    {
        "UPS",
        "USPS",
        "FedEx",
        "DHL",
        "DHL eCommerce",
        "Canada Post",
        "Royal Mail",
        "Deutsche Post",
        "DPD",
        "Hermes",
    }
    | {"GLS", "Purolator", "OnTrac", "Amazon Shipping", "Parcelforce", "Yodel", "Evri"}
)


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
        self._rdt_cache: dict[tuple, tuple[str, float]] = {}
        self._rdt_lock = threading.Lock()

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

    def _get(self, operation: str, path: str, params: dict | None = None, **kw: Any) -> Any:
        return parse_json(self.transport.call(operation, "GET", path, params=params, **kw))

    def _latest_before(self, before: datetime | None) -> datetime:
        latest = self.clock.now() - BEFORE_NOW - timedelta(seconds=5)
        chosen = min(before, latest) if before else latest
        return chosen.replace(microsecond=0)  # as sent: whole seconds

    # -- Orders 2026-01-01 (main path) ------------------------------------------------------------

    def search_orders(
        self,
        marketplace_ids: Iterable[str],
        last_updated_after: datetime,
        *,
        last_updated_before: datetime | None = None,
        resume: OrderPosition | None = None,
        pii: bool = False,
        page_size: int = 100,
    ) -> Iterator[OrderPage]:
        """Orders updated in the window, items inline, one ``OrderPage`` per call to the end.

        ``last_updated_before`` is clamped to two minutes before now (Amazon's rule). Each page says
        where the search goes on (``next``: the window and the token) and the echoed
        lastUpdatedBefore (``watermark``, the next search's start once the last page is read), so a
        caller that stores the position after each page can stop anywhere. ``resume`` (a stored
        position) reads its window from its token; a token Amazon no longer takes (they expire
        after 24 hours) reads the same window again from its start: orders seen twice, none lost.
        """
        included = ["FULFILLMENT", "PROCEEDS"] + (["BUYER", "RECIPIENT"] if pii else [])
        if resume is not None:
            window = OrderPosition(resume.after, resume.before)
            position = OrderPosition(
                resume.after, resume.before, resume.usable_token(self.clock.now()), resume.issued
            )
        else:
            before = self._latest_before(last_updated_before)
            if last_updated_after >= before:
                return  # nothing can have settled in the window yet (the two-minute rule): no call
            window = position = OrderPosition(last_updated_after.replace(microsecond=0), before)
        stored_token = position.token  # a token from an earlier run may have expired meanwhile
        params: dict[str, Any] = {
            "marketplaceIds": list(marketplace_ids),
            "lastUpdatedAfter": _iso(window.after),
            "lastUpdatedBefore": _iso(window.before),
            "maxResultsPerPage": page_size,
            "includedData": included,
        }
        while True:
            paged = {**params, "paginationToken": position.token} if position.token else params
            try:
                page = self._get("searchOrders", "/orders/2026-01-01/orders", paged)
            except PermanentError as exc:
                if position.token is None or position.token != stored_token:
                    raise
                log.warning("searchOrders refused a stored page token (%s); reading the window again", exc)
                position, stored_token = window, None
                continue
            orders = [
                mapping.order_from_2026(data, _currency(data.get("salesChannel", {}).get("marketplaceId")))
                for data in page.get("orders", ())
            ]
            token = (page.get("pagination") or {}).get("nextToken")
            echoed = page.get("lastUpdatedBefore")
            watermark = mapping.required_timestamp(echoed) if echoed else window.before
            following = OrderPosition(window.after, window.before, token, self.clock.now()) if token else None
            yield OrderPage(orders, position, following, watermark)
            if following is None:
                return
            position = following

    def get_order(self, order_id: str, *, pii: bool = False) -> Order:
        included = ["FULFILLMENT", "PROCEEDS"] + (["BUYER", "RECIPIENT"] if pii else [])
        data = self._get("getOrder", f"/orders/2026-01-01/orders/{order_id}", {"includedData": included})
        order = data["order"]
        return mapping.order_from_2026(order, _currency(order.get("salesChannel", {}).get("marketplaceId")))

    # -- Orders v0 (fallback) ---------------------------------------------------------------------

    def get_orders_v0(
        self,
        marketplace_ids: Iterable[str],
        last_updated_after: datetime,
        *,
        last_updated_before: datetime | None = None,
        pii: bool = False,
    ) -> Iterator[OrderPage]:
        """getOrders pages plus one getOrderItems per order (Amazon's old, slow path), one
        ``OrderPage`` per getOrders call, as ``search_orders`` gives them.

        With ``pii`` one Restricted Data Token covering getOrders and getOrderItems is requested.
        """
        rdt = self._v0_rdt("/orders/v0/orders") if pii else None
        before = self._latest_before(last_updated_before)
        if last_updated_after >= before:
            return
        window = position = OrderPosition(last_updated_after.replace(microsecond=0), before)
        params: dict[str, Any] = {
            "MarketplaceIds": list(marketplace_ids),
            "LastUpdatedAfter": _iso(window.after),
            "LastUpdatedBefore": _iso(before),
            "MaxResultsPerPage": 100,
        }
        while True:
            payload = self._get("getOrdersV0", "/orders/v0/orders", params, token=rdt)["payload"]
            orders = [
                mapping.order_from_v0(
                    data,
                    list(self._order_items_v0(data["AmazonOrderId"], rdt)),
                    _currency(data.get("MarketplaceId")),
                )
                for data in payload.get("Orders", ())
            ]
            echoed = payload.get("LastUpdatedBefore")
            token = payload.get("NextToken")
            following = OrderPosition(window.after, before, token, self.clock.now()) if token else None
            yield OrderPage(
                orders, position, following, mapping.required_timestamp(echoed) if echoed else before
            )
            if following is None:
                return
            position = following
            params = {**params, "NextToken": token}

    def _v0_rdt(self, order_path: str):  # noqa: ANN202 - the RDT source of _rdt_source
        """The Restricted Data Token for v0 order reads: buyer info and address on the order(s),
        buyer info on their items."""
        return self._rdt_source(
            [
                {"method": "GET", "path": order_path, "dataElements": ["buyerInfo", "shippingAddress"]},
                {
                    "method": "GET",
                    "path": "/orders/v0/orders/{orderId}/orderItems",
                    "dataElements": ["buyerInfo"],
                },
            ]
        )

    def get_order_v0(self, order_id: str, *, pii: bool = False) -> Order:
        """Orders v0 getOrder + getOrderItems for one order (fallback; PII through an RDT)."""
        rdt = self._v0_rdt(f"/orders/v0/orders/{order_id}") if pii else None
        data = self._get("getOrderV0", f"/orders/v0/orders/{order_id}", token=rdt)["payload"]
        items = list(self._order_items_v0(order_id, rdt))
        return mapping.order_from_v0(data, items, _currency(data.get("MarketplaceId")))

    def get_order_address(self, order_id: str) -> Address:
        """The buyer's shipping address (Orders v0 getOrderAddress): always through an RDT."""
        rdt = self._rdt_source(
            [
                {
                    "method": "GET",
                    "path": "/orders/v0/orders/{orderId}/address",
                    "dataElements": ["shippingAddress"],
                }
            ]
        )
        payload = self._get("getOrderAddress", f"/orders/v0/orders/{order_id}/address", token=rdt)["payload"]
        return mapping.address_v0(payload.get("ShippingAddress")) or Address()

    def _order_items_v0(self, order_id: str, rdt) -> Iterator[dict]:
        params: dict[str, Any] = {}
        while True:
            payload = self._get(
                "getOrderItems", f"/orders/v0/orders/{order_id}/orderItems", params, token=rdt
            )["payload"]
            yield from payload.get("OrderItems", ())
            token = payload.get("NextToken")
            if not token:
                return
            params = {"NextToken": token}

    def confirm_shipment(
        self, confirmation: ShipmentConfirmation, *, package_reference_id: str = "1"
    ) -> None:
        """Orders v0 confirmShipment (204 on success; a 400 raises PermanentError).

        Pass a deterministic ``package_reference_id`` (e.g. from the ERP delivery) so that a retry
        after a lost reply confirms the same package instead of adding one."""
        detail: dict[str, Any] = {
            "packageReferenceId": package_reference_id,
            "carrierCode": confirmation.carrier if confirmation.carrier in CARRIER_CODES else "Other",
            "trackingNumber": confirmation.tracking_number,
            "shipDate": _iso(confirmation.ship_date),
            "orderItems": [{"orderItemId": item_id, "quantity": qty} for item_id, qty in confirmation.items],
        }
        if confirmation.shipping_method:
            detail["shippingMethod"] = confirmation.shipping_method
        if confirmation.carrier not in CARRIER_CODES:
            detail["carrierName"] = confirmation.carrier  # required with carrierCode "Other"
        self.transport.call(
            "confirmShipment",
            "POST",
            f"/orders/v0/orders/{confirmation.amazon_order_id}/shipmentConfirmation",
            body={"marketplaceId": confirmation.marketplace_id, "packageDetail": detail},
        )

    # -- Tokens -----------------------------------------------------------------------------------

    def create_restricted_data_token(self, resources: list[dict]) -> tuple[str, float]:
        """A Restricted Data Token for exactly these resources, and its lifetime in seconds."""
        body = parse_json(
            self.transport.call(
                "createRestrictedDataToken",
                "POST",
                "/tokens/2021-03-01/restrictedDataToken",
                body={"restrictedResources": resources},
            )
        )
        return str(body["restrictedDataToken"]), float(body.get("expiresIn", 3600))

    def _rdt_source(self, resources: list[dict]) -> RestrictedToken:
        key = tuple((r["method"], r["path"], tuple(r.get("dataElements", ()))) for r in resources)
        return RestrictedToken(self, key, resources)

    # -- Finances ---------------------------------------------------------------------------------

    def list_financial_event_groups(
        self, started_after: datetime, *, started_before: datetime | None = None
    ) -> Iterator[FinancialEventGroup]:
        params: dict[str, Any] = {
            "FinancialEventGroupStartedAfter": _iso(started_after),
            "MaxResultsPerPage": 100,
        }
        if started_before:
            params["FinancialEventGroupStartedBefore"] = _iso(started_before)
        while True:
            payload = self._get("listFinancialEventGroups", "/finances/v0/financialEventGroups", params).get(
                "payload", {}
            )
            for group in payload.get("FinancialEventGroupList") or ():
                yield FinancialEventGroup(
                    group_id=group["FinancialEventGroupId"],
                    processing_status=group.get("ProcessingStatus", ""),
                    fund_transfer_status=group.get("FundTransferStatus"),
                    original_total=mapping.money(group.get("OriginalTotal")),
                    start=mapping.timestamp(group.get("FinancialEventGroupStart")),
                    end=mapping.timestamp(group.get("FinancialEventGroupEnd")),
                    fund_transfer_date=mapping.timestamp(group.get("FundTransferDate")),
                    converted_total=mapping.money(group.get("ConvertedTotal")),
                )
            token = payload.get("NextToken")
            if not token:
                return
            params = {**params, "NextToken": token}

    def list_financial_events_by_group(self, group_id: str) -> Iterator[SettlementLine]:
        """Every event of a group, flattened to settlement-style lines (empty pages are followed)."""
        params: dict[str, Any] = {"MaxResultsPerPage": 100}
        while True:
            payload = self._get(
                "listFinancialEventsByGroupId",
                f"/finances/v0/financialEventGroups/{group_id}/financialEvents",
                params,
            ).get("payload", {})
            events = payload.get("FinancialEvents") or {}
            unhandled = finances.unhandled_lists(events)
            if unhandled:
                log.warning(
                    "financial event group %s holds events not mapped: %s", group_id, ", ".join(unhandled)
                )
            yield from finances.finance_lines(events)
            token = payload.get("NextToken")
            if not token:
                return
            params = {**params, "NextToken": token}

    def list_transactions(
        self,
        *,
        posted_after: datetime | None = None,
        posted_before: datetime | None = None,
        marketplace_id: str | None = None,
        related_identifier: tuple[str, str] | None = None,
    ) -> Iterator[Transaction]:
        """Finances 2024-06-19 transactions by posted date, or by one related identifier
        (``("FINANCIAL_EVENT_GROUP_ID", id)`` or ``("ORDER_ID", id)``)."""
        params: dict[str, Any] = {"marketplaceId": marketplace_id}
        if related_identifier:
            params["relatedIdentifierName"], params["relatedIdentifierValue"] = related_identifier
        else:
            params["postedAfter"] = _iso(posted_after or self.clock.now() - timedelta(days=30))
            params["postedBefore"] = _iso(self._latest_before(posted_before))
        while True:
            payload = self._get("listTransactions", "/finances/2024-06-19/transactions", params).get(
                "payload", {}
            )
            for data in payload.get("transactions") or ():
                yield _transaction(data)
            token = payload.get("nextToken")
            if not token:
                return
            params = {**params, "nextToken": token}

    # -- Reports ----------------------------------------------------------------------------------

    def list_settlement_reports(
        self, created_since: datetime, *, marketplace_ids: Iterable[str] | None = None
    ) -> Iterator[ReportInfo]:
        """DONE settlement reports (flat file V2) created since the date, every page."""
        params: dict[str, Any] = {
            "reportTypes": [SETTLEMENT_V2],
            "processingStatuses": ["DONE"],
            "createdSince": _iso(created_since),
            "pageSize": 100,
        }
        if marketplace_ids:
            params["marketplaceIds"] = list(marketplace_ids)
        while True:
            page = self._get("getReports", "/reports/2021-06-30/reports", params)
            for report in page.get("reports", ()):
                yield _report(report)
            token = page.get("nextToken")
            if not token:
                return
            params = {"nextToken": token}  # getReports: the token must be the only parameter

    def get_report(self, report_id: str) -> ReportInfo:
        return _report(self._get("getReport", f"/reports/2021-06-30/reports/{report_id}"))

    def create_report(self, report_type: str, marketplace_ids: Iterable[str], **times: datetime) -> str:
        body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
        for name, value in times.items():  # data_start_time / data_end_time
            parts = name.split("_")
            body[parts[0] + "".join(p.title() for p in parts[1:])] = _iso(value)
        response = self.transport.call("createReport", "POST", "/reports/2021-06-30/reports", body=body)
        return str(parse_json(response)["reportId"])

    def download_report(self, report_id: str) -> bytes:
        """The report's document, fetched right after getReportDocument (URLs live 5 minutes) and
        gunzipped when Amazon says GZIP. A report Amazon is still preparing is waited for, each
        wait announced (``transport.waits``) so progress says why it stands still, up to
        ``REPORT_WAIT_LIMIT``; then ``TransientError``, so the caller defers it to the next run."""
        report = self.wait_for_report(report_id)
        if not report.document_id:
            raise PermanentError(f"Amazon reports report {report_id} {report.status} without a document")
        return self.download_document(report.document_id)

    def wait_for_report(self, report_id: str) -> ReportInfo:
        """getReport until the report leaves IN_QUEUE / IN_PROGRESS (polls 15 s, doubling to 120 s)."""
        waited, pause = 0.0, 15.0
        report = self.get_report(report_id)
        while report.status in PREPARING:
            if waited >= REPORT_WAIT_LIMIT:
                raise TransientError(
                    f"report {report_id} is still being prepared by Amazon ({report.status}) after "
                    f"{waited:.0f}s; the next run asks again"
                )
            announce(f"report {report_id} being prepared by Amazon ({report.status})", pause)
            self.clock.sleep(pause)
            waited += pause
            pause = min(pause * 2, 120.0)
            report = self.get_report(report_id)
        if report.status in ("CANCELLED", "FATAL"):
            raise PermanentError(f"Amazon ended report {report_id} {report.status}: it has no document")
        return report

    def download_document(self, document_id: str) -> bytes:
        meta = self._get("getReportDocument", f"/reports/2021-06-30/documents/{document_id}")
        content = self._fetch_url(meta["url"], "report document download")
        return gzip.decompress(content) if meta.get("compressionAlgorithm") == "GZIP" else content

    def _fetch_url(self, url: str, describe: str) -> bytes:
        """A presigned document URL: no SP-API token, no SP-API bucket, but the same retries."""
        response = self.transport.api.send(
            "GET", url, label="documentDownload", auth=httpx.Auth(), describe=describe
        )
        response.raise_for_status()
        return response.content

    # -- Listings, feeds, sellers -----------------------------------------------------------------

    def get_listings_item(
        self,
        sku: str,
        marketplace_id: str,
        *,
        included_data: Iterable[str] = ("summaries", "attributes", "offers", "fulfillmentAvailability"),
    ) -> dict:
        """The raw Listings Item (attributes are free-form per product type)."""
        return self._get(
            "getListingsItem",
            f"/listings/2021-08-01/items/{self.seller_id}/{_quote(sku)}",
            {"marketplaceIds": [marketplace_id], "includedData": list(included_data)},
        )

    def list_listings(self, marketplace_id: str, *, page_size: int = 20) -> Iterator[ListingState]:
        """Every listing of the seller in a marketplace with its price and quantity
        (searchListingsItems: 20 SKUs per call instead of one getListingsItem each)."""
        params: dict[str, Any] = {
            "marketplaceIds": [marketplace_id],
            "includedData": ["summaries", "offers", "fulfillmentAvailability"],
            "pageSize": page_size,
        }
        while True:
            page = self._get("searchListingsItems", f"/listings/2021-08-01/items/{self.seller_id}", params)
            for item in page.get("items") or ():
                yield listing_state(item, marketplace_id)
            token = (page.get("pagination") or {}).get("nextToken")
            if not token:
                return
            params = {**params, "pageToken": token}

    def get_listing_state(self, sku: str, marketplace_id: str) -> ListingState:
        return listing_state(
            self.get_listings_item(
                sku, marketplace_id, included_data=("summaries", "offers", "fulfillmentAvailability")
            ),
            marketplace_id,
        )

    def patch_listings_item(
        self,
        sku: str,
        marketplace_id: str,
        patches: list[dict],
        *,
        product_type: str = "PRODUCT",
        validation_preview: bool = False,
    ) -> ListingSubmission:
        response = self.transport.call(
            "patchListingsItem",
            "PATCH",
            f"/listings/2021-08-01/items/{self.seller_id}/{_quote(sku)}",
            params={
                "marketplaceIds": [marketplace_id],
                "mode": "VALIDATION_PREVIEW" if validation_preview else None,
            },
            body={"productType": product_type, "patches": patches},
        )
        data = parse_json(response)
        return ListingSubmission(
            sku=data["sku"],
            status=data["status"],
            submission_id=data["submissionId"],
            issues=tuple(f"{i.get('code')}: {i.get('message')}" for i in data.get("issues") or ()),
        )

    def submit_listings_feed(self, messages: list[dict], marketplace_ids: Iterable[str]) -> str:
        """createFeedDocument, upload, createFeed(JSON_LISTINGS_FEED); returns the feed id."""
        content_type = "application/json; charset=UTF-8"
        document = parse_json(
            self.transport.call(
                "createFeedDocument",
                "POST",
                "/feeds/2021-06-30/documents",
                body={"contentType": content_type},
            )
        )
        feed = {"header": {"sellerId": self.seller_id, "version": "2.0"}, "messages": messages}
        payload = encode_json(feed)
        upload = self.transport.api.send(
            "PUT",
            document["url"],
            label="feedUpload",
            write=False,  # the same document stored again under its presigned URL
            content=payload,
            headers={"content-type": content_type},
            auth=httpx.Auth(),  # presigned: no SP-API token
            describe="feed upload",
        )
        upload.raise_for_status()
        response = self.transport.call(
            "createFeed",
            "POST",
            "/feeds/2021-06-30/feeds",
            body={
                "feedType": JSON_LISTINGS_FEED,
                "marketplaceIds": list(marketplace_ids),
                "inputFeedDocumentId": document["feedDocumentId"],
            },
        )
        return str(parse_json(response)["feedId"])

    def get_feed(self, feed_id: str) -> FeedInfo:
        data = self._get("getFeed", f"/feeds/2021-06-30/feeds/{feed_id}")
        return FeedInfo(
            feed_id=data["feedId"],
            feed_type=data["feedType"],
            status=data["processingStatus"],
            result_document_id=data.get("resultFeedDocumentId"),
        )

    def get_feed_result(self, feed_id: str) -> dict | None:
        """The JSON_LISTINGS_FEED processing report once the feed is DONE (else None)."""
        feed = self.get_feed(feed_id)
        if feed.status != "DONE" or not feed.result_document_id:
            return None
        meta = self._get("getFeedDocument", f"/feeds/2021-06-30/documents/{feed.result_document_id}")
        content = self._fetch_url(meta["url"], "feed result download")
        if meta.get("compressionAlgorithm") == "GZIP":
            content = gzip.decompress(content)
        return json.loads(content)

    def get_marketplace_participations(self) -> list[MarketplaceParticipation]:
        """Also the credentials check: it needs a valid token and no particular role."""
        data = self._get("getMarketplaceParticipations", "/sellers/v1/marketplaceParticipations")
        return [
            MarketplaceParticipation(
                marketplace_id=p["marketplace"]["id"],
                country_code=p["marketplace"]["countryCode"],
                currency=p["marketplace"]["defaultCurrencyCode"],
                name=p["marketplace"]["name"],
                participating=bool(p["participation"]["isParticipating"]),
            )
            for p in data.get("payload") or ()
        ]


class RestrictedToken(LwaTokenAuth):
    """The auth of PII calls: the cached Restricted Data Token for these resources, requested on
    first use and again shortly before it expires or after Amazon refused it (403, once)."""

    def __init__(self, client: SpApiClient, key: tuple, resources: list[dict]) -> None:
        super().__init__(self._current, lambda used: self.invalidate())
        self._client = client
        self._key = key
        self._resources = resources

    def _current(self) -> str:
        client = self._client
        with client._rdt_lock:
            cached = client._rdt_cache.get(self._key)
            if cached is None or client.clock.monotonic() >= cached[1] - RDT_MARGIN:
                value, lifetime = client.create_restricted_data_token(self._resources)
                cached = (value, client.clock.monotonic() + lifetime)
                client._rdt_cache[self._key] = cached
            return cached[0]

    def invalidate(self) -> None:
        with self._client._rdt_lock:
            self._client._rdt_cache.pop(self._key, None)


def price_patch(marketplace_id: str, price: Money) -> dict:
    """The patch that sets a listing's price (replaces the whole purchasable_offer)."""
    return {
        "op": "replace",
        "path": "/attributes/purchasable_offer",
        "value": [
            {
                "marketplace_id": marketplace_id,
                "currency": price.currency,
                "audience": "ALL",
                "our_price": [{"schedule": [{"value_with_tax": price.quantized().amount}]}],
            }
        ],
    }


def quantity_patch(quantity: int) -> dict:
    """The patch that sets a seller-fulfilled listing's available quantity."""
    return {
        "op": "replace",
        "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": int(quantity)}],
    }


def listing_state(item: dict, marketplace_id: str) -> ListingState:
    summary: dict = next(
        (x for x in item.get("summaries") or () if x.get("marketplaceId") == marketplace_id), {}
    )
    offer = next(
        (
            x
            for x in item.get("offers") or ()
            if x.get("marketplaceId") == marketplace_id and x.get("offerType") == "B2C"
        ),
        None,
    )
    quantity = next(
        (
            x.get("quantity")
            for x in item.get("fulfillmentAvailability") or ()
            if x.get("fulfillmentChannelCode") == "DEFAULT"
        ),
        None,
    )
    return ListingState(
        sku=item["sku"],
        marketplace_id=marketplace_id,
        asin=summary.get("asin"),
        price=mapping.money(offer.get("price")) if offer else None,
        quantity=quantity,
    )


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _quote(sku: str) -> str:
    from urllib.parse import quote

    return quote(sku, safe="")


def _currency(marketplace_id: str | None) -> str:
    market = MARKETPLACES.get(marketplace_id or "")
    return market.currency if market else "USD"


def _report(data: dict) -> ReportInfo:
    return ReportInfo(
        report_id=data["reportId"],
        report_type=data["reportType"],
        status=data["processingStatus"],
        created=mapping.timestamp(data.get("createdTime")),
        data_start=mapping.timestamp(data.get("dataStartTime")),
        data_end=mapping.timestamp(data.get("dataEndTime")),
        document_id=data.get("reportDocumentId"),
        marketplace_ids=tuple(data.get("marketplaceIds") or ()),
    )


def _transaction(data: dict) -> Transaction:
    breakdowns: list[tuple[str, Money]] = []

    def walk(entries: list | None) -> None:
        for entry in entries or ():
            nested = entry.get("breakdowns")
            if nested:
                walk(nested)
            else:
                amount = mapping.money(entry.get("breakdownAmount"))
                if amount is not None:
                    breakdowns.append((entry.get("breakdownType", ""), amount))

    walk(data.get("breakdowns"))
    return Transaction(
        transaction_id=data.get("transactionId", ""),
        transaction_type=data.get("transactionType", ""),
        status=data.get("transactionStatus", ""),
        posted=mapping.timestamp(data.get("postedDate")),
        total=mapping.money(data.get("totalAmount")),
        marketplace_id=(data.get("marketplaceDetails") or {}).get("marketplaceId")
        or (data.get("sellingPartnerMetadata") or {}).get("marketplaceId"),
        related={
            r["relatedIdentifierName"]: r["relatedIdentifierValue"]
            for r in data.get("relatedIdentifiers") or ()
        },
        breakdowns=tuple(breakdowns),
    )
