"""The SP-API + LWA sandbox as one Starlette app (served by `ml-connector sandbox serve`, or
in-process by tests through serve_in_thread).

``create_app(clock=..., seed=..., faults=...)`` returns the app wrapped in the shared fault
middleware; ``app.state.sandbox`` is the SandboxState (orders, confirmed shipments, listing
patches, feeds received, ``set_order_status``, ``revoke_authorization`` ...).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector.clock import Clock
from ml_connector.sandbox.amazon import balances, finances, listings, lwa, orders, reports
from ml_connector.sandbox.amazon.http import error_response, operation
from ml_connector.sandbox.amazon.state import SELLER_ID, SandboxCredentials, SandboxState
from ml_connector.sandbox.faults import FaultInjectionMiddleware, FaultPlan

# (method, path, operation name, handler)
OPERATIONS = (
    ("GET", "/orders/2026-01-01/orders", "searchOrders", orders.search_orders),
    ("GET", "/orders/2026-01-01/orders/{orderId}", "getOrder", orders.get_order),
    ("GET", "/orders/v0/orders", "getOrdersV0", orders.get_orders_v0),
    ("GET", "/orders/v0/orders/{orderId}", "getOrderV0", orders.get_order_v0),
    ("GET", "/orders/v0/orders/{orderId}/orderItems", "getOrderItems", orders.get_order_items),
    ("GET", "/orders/v0/orders/{orderId}/address", "getOrderAddress", orders.get_order_address),
    ("GET", "/orders/v0/orders/{orderId}/buyerInfo", "getOrderBuyerInfo", orders.get_order_buyer_info),
    ("POST", "/orders/v0/orders/{orderId}/shipmentConfirmation", "confirmShipment", orders.confirm_shipment),
    ("GET", "/finances/v0/financialEventGroups", "listFinancialEventGroups", finances.list_groups),
    (
        "GET",
        "/finances/v0/financialEventGroups/{eventGroupId}/financialEvents",
        "listFinancialEventsByGroupId",
        finances.list_events_by_group,
    ),
    (
        "GET",
        "/finances/v0/orders/{orderId}/financialEvents",
        "listFinancialEventsByOrderId",
        finances.list_events_by_order,
    ),
    ("GET", "/finances/v0/financialEvents", "listFinancialEvents", finances.list_events),
    ("GET", "/finances/2024-06-19/transactions", "listTransactions", finances.list_transactions),
    ("GET", "/finances/2024-06-19/balances", "listBalances", balances.list_balances),
    ("GET", "/finances/2024-06-19/summary", "listSummary", balances.list_summary),
    ("GET", "/finances/transfers/2024-06-01/payouts", "listPayouts", balances.list_payouts),
    ("GET", "/reports/2021-06-30/reports", "getReports", reports.get_reports),
    ("POST", "/reports/2021-06-30/reports", "createReport", reports.create_report),
    ("GET", "/reports/2021-06-30/reports/{reportId}", "getReport", reports.get_report),
    (
        "GET",
        "/reports/2021-06-30/documents/{reportDocumentId}",
        "getReportDocument",
        reports.get_report_document,
    ),
    ("POST", "/tokens/2021-03-01/restrictedDataToken", "createRestrictedDataToken", listings.create_rdt),
    ("GET", "/listings/2021-08-01/items/{sellerId}", "searchListingsItems", listings.search_listings_items),
    ("GET", "/listings/2021-08-01/items/{sellerId}/{sku}", "getListingsItem", listings.get_listings_item),
    (
        "PATCH",
        "/listings/2021-08-01/items/{sellerId}/{sku}",
        "patchListingsItem",
        listings.patch_listings_item,
    ),
    ("POST", "/feeds/2021-06-30/documents", "createFeedDocument", listings.create_feed_document),
    ("POST", "/feeds/2021-06-30/feeds", "createFeed", listings.create_feed),
    ("GET", "/feeds/2021-06-30/feeds/{feedId}", "getFeed", listings.get_feed),
    ("GET", "/feeds/2021-06-30/documents/{feedDocumentId}", "getFeedDocument", listings.get_feed_document),
    (
        "GET",
        "/sellers/v1/marketplaceParticipations",
        "getMarketplaceParticipations",
        listings.marketplace_participations,
    ),
    ("GET", "/sellers/v1/account", "getAccount", listings.get_account),
)


async def _summary(request: Request) -> JSONResponse:
    state: SandboxState = request.app.state.sandbox
    return JSONResponse(
        {
            "sellerId": SELLER_ID,
            "orders": len(state.orders),
            "settlements": sum(s.closed for s in state.world.settlements),
            "calls": state.calls,
            "throttled": state.throttled,
            "confirmedShipments": len(state.confirmed_shipments),
            "listingPatches": len(state.listing_patches),
            "feedsReceived": len(state.feeds_received),
        }
    )


def create_app(
    *,
    clock: Clock,
    seed: int = 7,
    faults: FaultPlan | None = None,
    order_count: int = 300,
    days: int = 60,
    rate_limits: bool = True,
) -> Starlette:
    """The sandbox. ``order_count`` / ``days`` size the generated history (benchmarks use a few
    thousand orders); ``rate_limits=False`` turns the usage-plan buckets off."""
    state = SandboxState(clock=clock, seed=seed, order_count=order_count, days=days, rate_limits=rate_limits)
    routes = [Route("/auth/o2/token", lwa.token_endpoint, methods=["POST"])]
    routes += [
        Route(path, operation(name, state, handler), methods=[method])
        for method, path, name, handler in OPERATIONS
    ]
    routes += [
        Route("/_sandbox/documents/{documentId}", reports.download, methods=["GET"]),
        Route("/_sandbox/uploads/{documentId}", listings.upload, methods=["PUT"]),
        Route("/_sandbox/state", _summary, methods=["GET"]),
    ]
    plan = faults or FaultPlan()

    async def _not_found(request: Request, exc: Exception) -> Response:
        # Amazon answers JSON errors for unknown resources too, never a plain-text 404
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return error_response(405, "MethodNotAllowed", "Method not allowed for this resource.")
        return error_response(404, "NotFound", "The requested resource was not found.")

    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _not_found},
        middleware=[Middleware(FaultInjectionMiddleware, plan=plan, clock=clock)],
    )
    app.state.sandbox = state
    app.state.faults = plan
    return app


__all__ = ["SandboxCredentials", "create_app"]
