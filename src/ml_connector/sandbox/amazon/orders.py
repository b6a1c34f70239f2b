"""Orders 2026-01-01 (searchOrders, getOrder) and Orders v0 (getOrders, getOrder, getOrderItems,
confirmShipment), with Amazon's window rules, paging and RDT-gated PII."""

from __future__ import annotations

from starlette.requests import Request

from ml_connector.sandbox.amazon import views
from ml_connector.sandbox.amazon.http import (
    ApiError,
    bad_input,
    before_bound,
    csv,
    decode_token,
    encode_token,
    fingerprint,
    int_param,
    json_body,
    parse_time,
    rdt_elements,
)
from ml_connector.sandbox.amazon.state import IssuedToken, SandboxState
from ml_connector.sandbox.amazon.world import SandboxOrder

INCLUDED_DATA = {
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
}
INCLUDED_DATA |= {"TAX", "PAYMENT", "FULFILLMENT_ORDERS"}
FULFILLED_BY = {"AMAZON": "AFN", "MERCHANT": "MFN"}
TOKEN_LIFETIME = 24 * 3600.0  # searchOrders: "The token will expire after 24 hours."


def _select(
    state: SandboxState, request: Request, names: dict[str, str]
) -> tuple[list[SandboxOrder], str, str]:
    """Orders in the created or last-updated window; returns them with the echo field and value."""
    created_after = parse_time(request.query_params.get(names["createdAfter"]), names["createdAfter"])
    updated_after = parse_time(request.query_params.get(names["lastUpdatedAfter"]), names["lastUpdatedAfter"])
    if (created_after is None) == (updated_after is None):
        raise bad_input(
            f"Exactly one of {names['createdAfter']} and {names['lastUpdatedAfter']} is required."
        )
    if created_after is not None:
        if request.query_params.get(names["lastUpdatedBefore"]):
            raise bad_input(f"{names['lastUpdatedBefore']} cannot be combined with {names['createdAfter']}.")
        before = before_bound(state, request.query_params.get(names["createdBefore"]), names["createdBefore"])
        after, field, echo = created_after, "purchase", names["createdBefore"]
    else:
        if request.query_params.get(names["createdBefore"]):
            raise bad_input(f"{names['createdBefore']} cannot be combined with {names['lastUpdatedAfter']}.")
        assert updated_after is not None  # exactly one of the two bounds is set (checked above)
        before = before_bound(
            state, request.query_params.get(names["lastUpdatedBefore"]), names["lastUpdatedBefore"]
        )
        after, field, echo = updated_after, "last_updated", names["lastUpdatedBefore"]
    if after >= before:
        raise bad_input("Date range is invalid.")
    with state.lock:
        selected = [o for o in state.orders if after <= getattr(o, field) < before]
    selected.sort(key=lambda o: (getattr(o, field), o.order_id))
    return selected, echo, views.iso(before)


# -- Orders 2026-01-01 -----------------------------------------------------------------------------

_NAMES_2026 = {
    "createdAfter": "createdAfter",
    "createdBefore": "createdBefore",
    "lastUpdatedAfter": "lastUpdatedAfter",
    "lastUpdatedBefore": "lastUpdatedBefore",
}


def _included(request: Request) -> set[str]:
    included = set(csv(request, "includedData"))
    unknown = included - INCLUDED_DATA
    if unknown:
        raise bad_input(f"Invalid includedData: {', '.join(sorted(unknown))}.")
    return included


async def search_orders(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    # the 2026-01-01 model: maxResultsPerPage and includedData may change between pages
    fp = fingerprint(request, "paginationToken", ("maxResultsPerPage", "includedData"))
    offset, issued = decode_token(request.query_params.get("paginationToken"), fp)
    if "t" in issued and state.clock.now().timestamp() - float(issued["t"]) > TOKEN_LIFETIME:
        raise bad_input("The paginationToken has expired.")
    orders, echo, before = _select(state, request, _NAMES_2026)
    markets = set(csv(request, "marketplaceIds"))
    if len(markets) > 50:
        raise bad_input("marketplaceIds accepts at most 50 values.")
    statuses = set(csv(request, "fulfillmentStatuses"))
    fulfilled_by = {FULFILLED_BY.get(v, v) for v in csv(request, "fulfilledBy")}
    orders = [
        o
        for o in orders
        if (not markets or o.marketplace.marketplace_id in markets)
        and (not statuses or views.STATUS_TO_2026[o.status] in statuses)
        and (not fulfilled_by or o.channel in fulfilled_by)
    ]
    size = int_param(request, "maxResultsPerPage", 100, 1, 100)
    included = _included(request)
    page = orders[offset : offset + size]
    body: dict = {"orders": [views.order_2026(o, included) for o in page], echo: before}
    if offset + size < len(orders):
        body["pagination"] = {
            "nextToken": encode_token(offset + size, fp, {"t": state.clock.now().timestamp()})
        }
    return body


async def get_order(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order = state.order(request.path_params["orderId"])
    if order is None:
        raise ApiError(404, "NotFound", "The requested order was not found.")
    return {"order": views.order_2026(order, _included(request))}


# -- Orders v0 -------------------------------------------------------------------------------------

_NAMES_V0 = {
    "createdAfter": "CreatedAfter",
    "createdBefore": "CreatedBefore",
    "lastUpdatedAfter": "LastUpdatedAfter",
    "lastUpdatedBefore": "LastUpdatedBefore",
}


async def get_orders_v0(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    fp = fingerprint(request, "NextToken")
    offset, _ = decode_token(request.query_params.get("NextToken"), fp)
    markets = set(csv(request, "MarketplaceIds"))
    if not markets:
        raise bad_input("MarketplaceIds is required.")
    orders, echo, before = _select(state, request, _NAMES_V0)
    statuses = set(csv(request, "OrderStatuses"))
    channels = set(csv(request, "FulfillmentChannels"))
    orders = [
        o
        for o in orders
        if o.marketplace.marketplace_id in markets
        and (not statuses or o.status in statuses)
        and (not channels or o.channel in channels)
    ]
    size = int_param(request, "MaxResultsPerPage", 100, 1, 100)
    pii = rdt_elements(token, "GET", request.url.path)
    page = orders[offset : offset + size]
    payload: dict = {"Orders": [views.order_v0(o, pii=pii) for o in page], echo: before}
    if offset + size < len(orders):
        payload["NextToken"] = encode_token(offset + size, fp)
    return {"payload": payload}


def _order_or_404(state: SandboxState, request: Request) -> SandboxOrder:
    order = state.order(request.path_params["orderId"])
    if order is None:
        raise ApiError(404, "NotFound", "The requested order was not found.")
    return order


async def get_order_v0(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order = _order_or_404(state, request)
    return {"payload": views.order_v0(order, pii=rdt_elements(token, "GET", request.url.path))}


async def get_order_items(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order = _order_or_404(state, request)
    return {"payload": {"AmazonOrderId": order.order_id, "OrderItems": views.items_v0(order)}}


async def confirm_shipment(request: Request, state: SandboxState, token: IssuedToken) -> None:
    order = _order_or_404(state, request)
    body = await json_body(request)
    detail = body.get("packageDetail")
    if body.get("marketplaceId") != order.marketplace.marketplace_id or not isinstance(detail, dict):
        raise ApiError(400, "InvalidInput", "Invalid Input", "marketplaceId and packageDetail are required.")
    missing = [
        k
        for k in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
        if not detail.get(k)
    ]
    if missing:
        raise ApiError(
            400, "InvalidInput", "Invalid Input", f"Missing packageDetail fields: {', '.join(missing)}."
        )
    if order.channel != "MFN" or order.status in ("Canceled", "Pending"):
        raise ApiError(
            400,
            "InvalidInput",
            "Invalid Input",
            f"Order {order.order_id} cannot be confirmed ({order.channel}, {order.status}).",
        )
    known = {i.order_item_id: i.quantity for i in order.items}
    for line in detail["orderItems"]:
        if (
            line.get("orderItemId") not in known
            or not 0 < int(line.get("quantity", 0)) <= known[line["orderItemId"]]
        ):
            raise ApiError(400, "InvalidInput", "Invalid Input", f"Unknown order item or quantity: {line}.")
    with state.lock:
        if any(p["packageReferenceId"] == str(detail["packageReferenceId"]) for p in order.packages):
            return None  # the same package confirmed again (a retry after a lost reply): no second record
        state.confirmed_shipments.append({"orderId": order.order_id, **body})
        order.packages.append(
            {
                "packageReferenceId": str(detail["packageReferenceId"]),
                "carrier": detail["carrierCode"],
                "trackingNumber": detail["trackingNumber"],
                "shipTime": detail["shipDate"],
            }
        )
        order.status = "Shipped"
        order.shipped_at = state.clock.now()
        order.last_updated = state.clock.now()
    return None


def _require_rdt(token: IssuedToken, request: Request, element: str) -> None:
    if element not in rdt_elements(token, "GET", request.url.path):
        raise ApiError(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            f"This operation needs a restricted data token with the {element} data element.",
        )


async def get_order_address(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order = _order_or_404(state, request)
    _require_rdt(token, request, "shippingAddress")
    address = views.order_v0(order, pii={"shippingAddress"})["ShippingAddress"]
    return {"payload": {"AmazonOrderId": order.order_id, "ShippingAddress": address}}


async def get_order_buyer_info(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order = _order_or_404(state, request)
    _require_rdt(token, request, "buyerInfo")
    return {
        "payload": {
            "AmazonOrderId": order.order_id,
            "BuyerEmail": order.buyer_email,
            "BuyerName": order.buyer_name,
        }
    }
