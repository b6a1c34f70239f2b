"""Orders: 2026-01-01 ``searchOrders`` / ``getOrder`` (the main path, items inline: one call per 100
orders) and v0 (the fallback Amazon removes on 2027-03-27: getOrders + one getOrderItems per order),
plus v0 ``confirmShipment`` (not scheduled for removal).

Buyer PII only when asked for (``pii=True``): via includedData on 2026, via a Restricted Data Token
on v0. Order searches hand back their position and watermark in each ``OrderPage``; nothing is kept
on the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ml_connector.errors import PermanentError
from ml_connector.model import Address, Order, ShipmentConfirmation
from ml_connector.sources.amazon import mapping
from ml_connector.sources.amazon.api.common import currency_of, get_json, iso, latest_before
from ml_connector.sources.amazon.api.paging import follow, get_pages, pagination_token, payload_token
from ml_connector.sources.amazon.api.tokens import RestrictedToken
from ml_connector.sources.amazon.order_pages import OrderPage, OrderPosition

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

log = logging.getLogger(__name__)

SEARCH_PATH = "/orders/2026-01-01/orders"
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


def _included(pii: bool) -> list[str]:
    return ["FULFILLMENT", "PROCEEDS"] + (["BUYER", "RECIPIENT"] if pii else [])


# -- Orders 2026-01-01 (main path) ----------------------------------------------------------------


def search_orders(
    client: SpApiClient,
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
    if resume is not None:
        window = OrderPosition(resume.after, resume.before)
        first = resume.usable_token(client.clock.now())
    else:
        before = latest_before(client, last_updated_before)
        if last_updated_after >= before:
            return  # nothing can have settled in the window yet (the two-minute rule): no call
        window = OrderPosition(last_updated_after.replace(microsecond=0), before)
        first = None
    # the position each token reads (the stored one keeps its issue time: it may have expired)
    positions: dict[str, OrderPosition] = {}
    if resume is not None and first:
        positions[first] = OrderPosition(window.after, window.before, first, resume.issued)
    stored_token = first  # a token from an earlier run may have expired meanwhile
    params: dict[str, Any] = {
        "marketplaceIds": list(marketplace_ids),
        "lastUpdatedAfter": iso(window.after),
        "lastUpdatedBefore": iso(window.before),
        "maxResultsPerPage": page_size,
        "includedData": _included(pii),
    }

    def fetch(token: str | None) -> tuple[OrderPosition, dict]:
        nonlocal stored_token
        position = positions.pop(token) if token else window
        paged = {**params, "paginationToken": token} if token else params
        try:
            return position, get_json(client, "searchOrders", SEARCH_PATH, paged)
        except PermanentError as exc:
            if token is None or token != stored_token:
                raise
            log.warning("searchOrders refused a stored page token (%s); reading the window again", exc)
            stored_token = None
            return window, get_json(client, "searchOrders", SEARCH_PATH, params)

    for position, page in follow("searchOrders", fetch, lambda read: pagination_token(read[1]), start=first):
        orders = [
            mapping.order_from_2026(data, currency_of(data.get("salesChannel", {}).get("marketplaceId")))
            for data in page.get("orders", ())
        ]
        token = pagination_token(page)
        echoed = page.get("lastUpdatedBefore")
        watermark = (mapping.timestamp(echoed) if echoed else None) or window.before
        following = None
        if token:
            following = positions[token] = OrderPosition(
                window.after, window.before, token, client.clock.now()
            )
        yield OrderPage(orders, position, following, watermark)


def get_order(client: SpApiClient, order_id: str, *, pii: bool = False) -> Order:
    data = get_json(
        client, "getOrder", f"/orders/2026-01-01/orders/{order_id}", {"includedData": _included(pii)}
    )
    order = data["order"]
    return mapping.order_from_2026(order, currency_of(order.get("salesChannel", {}).get("marketplaceId")))


# -- Orders v0 (fallback, removed on 2027-03-27) ----------------------------------------------------


def get_orders_v0(
    client: SpApiClient,
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
    rdt = _v0_rdt(client, "/orders/v0/orders") if pii else None
    before = latest_before(client, last_updated_before)
    if last_updated_after >= before:
        return
    window = OrderPosition(last_updated_after.replace(microsecond=0), before)
    params: dict[str, Any] = {
        "MarketplaceIds": list(marketplace_ids),
        "LastUpdatedAfter": iso(window.after),
        "LastUpdatedBefore": iso(before),
        "MaxResultsPerPage": 100,
    }
    next_token = payload_token("NextToken")
    pages = get_pages(
        client,
        "getOrdersV0",
        "/orders/v0/orders",
        params,
        send_as="NextToken",
        next_token=next_token,
        token=rdt,
    )
    position = window
    for page in pages:
        payload = page["payload"]
        orders = [
            mapping.order_from_v0(
                data,
                list(_order_items_v0(client, data["AmazonOrderId"], rdt)),
                currency_of(data.get("MarketplaceId")),
            )
            for data in payload.get("Orders", ())
        ]
        echoed = payload.get("LastUpdatedBefore")
        token = next_token(page)
        following = OrderPosition(window.after, before, token, client.clock.now()) if token else None
        watermark = (mapping.timestamp(echoed) if echoed else None) or before
        yield OrderPage(orders, position, following, watermark)
        if following is not None:
            position = following


def _v0_rdt(client: SpApiClient, order_path: str) -> RestrictedToken:
    """The Restricted Data Token for v0 order reads: buyer info and address on the order(s),
    buyer info on their items."""
    return client.restricted.auth(
        [
            {"method": "GET", "path": order_path, "dataElements": ["buyerInfo", "shippingAddress"]},
            {
                "method": "GET",
                "path": "/orders/v0/orders/{orderId}/orderItems",
                "dataElements": ["buyerInfo"],
            },
        ]
    )


def get_order_v0(client: SpApiClient, order_id: str, *, pii: bool = False) -> Order:
    """Orders v0 getOrder + getOrderItems for one order (fallback; PII through an RDT)."""
    rdt = _v0_rdt(client, f"/orders/v0/orders/{order_id}") if pii else None
    data = get_json(client, "getOrderV0", f"/orders/v0/orders/{order_id}", token=rdt)["payload"]
    items = list(_order_items_v0(client, order_id, rdt))
    return mapping.order_from_v0(data, items, currency_of(data.get("MarketplaceId")))


def get_order_address(client: SpApiClient, order_id: str) -> Address:
    """The buyer's shipping address (Orders v0 getOrderAddress): always through an RDT."""
    rdt = client.restricted.auth(
        [
            {
                "method": "GET",
                "path": "/orders/v0/orders/{orderId}/address",
                "dataElements": ["shippingAddress"],
            }
        ]
    )
    payload = get_json(client, "getOrderAddress", f"/orders/v0/orders/{order_id}/address", token=rdt)[
        "payload"
    ]
    return mapping.address_v0(payload.get("ShippingAddress")) or Address()


def _order_items_v0(client: SpApiClient, order_id: str, rdt: RestrictedToken | None) -> Iterator[dict]:
    for page in get_pages(
        client,
        "getOrderItems",
        f"/orders/v0/orders/{order_id}/orderItems",
        {},
        send_as="NextToken",
        next_token=payload_token("NextToken"),
        alone=True,
        token=rdt,
    ):
        yield from page["payload"].get("OrderItems", ())


def confirm_shipment(
    client: SpApiClient, confirmation: ShipmentConfirmation, *, package_reference_id: str = "1"
) -> None:
    """Orders v0 confirmShipment (204 on success; a 400 raises PermanentError).

    Pass a deterministic ``package_reference_id`` (e.g. from the ERP delivery) so that a retry
    after a lost reply confirms the same package instead of adding one."""
    detail: dict[str, Any] = {
        "packageReferenceId": package_reference_id,
        "carrierCode": confirmation.carrier if confirmation.carrier in CARRIER_CODES else "Other",
        "trackingNumber": confirmation.tracking_number,
        "shipDate": iso(confirmation.ship_date),
        "orderItems": [{"orderItemId": item_id, "quantity": qty} for item_id, qty in confirmation.items],
    }
    if confirmation.shipping_method:
        detail["shippingMethod"] = confirmation.shipping_method
    if confirmation.carrier not in CARRIER_CODES:
        detail["carrierName"] = confirmation.carrier  # required with carrierCode "Other"
    client.transport.call(
        "confirmShipment",
        "POST",
        f"/orders/v0/orders/{confirmation.amazon_order_id}/shipmentConfirmation",
        body={"marketplaceId": confirmation.marketplace_id, "packageDetail": detail},
    )
