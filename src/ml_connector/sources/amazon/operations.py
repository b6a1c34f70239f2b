"""Every SP-API operation ml-connector calls, where Amazon's model defines it, and when Amazon removes it.

Amazon retires operations on announced dates (Orders v0 reads on 2027-03-27, Finances v0
``listFinancialEvents*`` on 2027-08-27). This table is what notices: a test reads the shipped official
models and fails when an operation listed here is marked deprecated without a removal date and a
replacement the client also calls, and when the client calls an operation missing from the table;
``ping`` warns about every operation a connection's flows still use that has a removal date (what
each flow calls is in the flow registry, flows/registry.py; a test runs each flow against the sandbox
and compares).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

ORDERS_V0_REMOVAL = date(2027, 3, 27)  # "migrate to Orders API v2026-01-01 by March 27, 2027"
FINANCES_V0_EVENTS_REMOVAL = date(2027, 8, 27)  # listFinancialEvents* "removed on August 27, 2027"


@dataclass(frozen=True)
class Operation:
    """One operation: the name the client paces and counts it by, and its place in Amazon's model."""

    name: str  # Amazon's operationId; a v0 twin of a 2026 name carries a "V0" suffix
    model: str  # the shipped model file (tests/amazon/models, from shared/reference/amazon/models)
    method: str
    path: str
    removal: date | None = None  # the day Amazon removes it
    replacement: str | None = None  # the operation the client uses instead (the default path)

    @property
    def operation_id(self) -> str:
        """The operationId in Amazon's model (without the client's V0 suffix)."""
        return self.name.removesuffix("V0")

    def removal_notice(self) -> str | None:
        if self.removal is None:
            return None
        instead = f"; ml-connector's default path uses {self.replacement}" if self.replacement else ""
        return f"Amazon removes SP-API {self.name} on {self.removal.isoformat()}{instead}"


def _ops(*operations: Operation) -> dict[str, Operation]:
    return {op.name: op for op in operations}


OPERATIONS: dict[str, Operation] = _ops(
    Operation("searchOrders", "orders_2026-01-01.json", "GET", "/orders/2026-01-01/orders"),
    Operation("getOrder", "orders_2026-01-01.json", "GET", "/orders/2026-01-01/orders/{orderId}"),
    # Orders v0: the fallback only (documented in DESIGN.md), removed on 2027-03-27.
    Operation("getOrdersV0", "ordersV0.json", "GET", "/orders/v0/orders", ORDERS_V0_REMOVAL, "searchOrders"),
    Operation(
        "getOrderV0", "ordersV0.json", "GET", "/orders/v0/orders/{orderId}", ORDERS_V0_REMOVAL, "getOrder"
    ),
    Operation(
        "getOrderItems",
        "ordersV0.json",
        "GET",
        "/orders/v0/orders/{orderId}/orderItems",
        ORDERS_V0_REMOVAL,
        "getOrder",
    ),
    Operation(
        "getOrderAddress",
        "ordersV0.json",
        "GET",
        "/orders/v0/orders/{orderId}/address",
        ORDERS_V0_REMOVAL,
        "getOrder",
    ),
    Operation(
        "getOrderBuyerInfo",
        "ordersV0.json",
        "GET",
        "/orders/v0/orders/{orderId}/buyerInfo",
        ORDERS_V0_REMOVAL,
        "getOrder",
    ),
    Operation("confirmShipment", "ordersV0.json", "POST", "/orders/v0/orders/{orderId}/shipmentConfirmation"),
    Operation("listFinancialEventGroups", "financesV0.json", "GET", "/finances/v0/financialEventGroups"),
    Operation(
        "listFinancialEventsByGroupId",
        "financesV0.json",
        "GET",
        "/finances/v0/financialEventGroups/{eventGroupId}/financialEvents",
        FINANCES_V0_EVENTS_REMOVAL,
        "listTransactions",
    ),
    Operation("listTransactions", "finances_2024-06-19.json", "GET", "/finances/2024-06-19/transactions"),
    Operation("listBalances", "finances_2024-06-19.json", "GET", "/finances/2024-06-19/balances"),
    Operation("listSummary", "finances_2024-06-19.json", "GET", "/finances/2024-06-19/summary"),
    Operation("listPayouts", "transfers_2024-06-01.json", "GET", "/finances/transfers/2024-06-01/payouts"),
    Operation("getReports", "reports_2021-06-30.json", "GET", "/reports/2021-06-30/reports"),
    Operation("createReport", "reports_2021-06-30.json", "POST", "/reports/2021-06-30/reports"),
    Operation("getReport", "reports_2021-06-30.json", "GET", "/reports/2021-06-30/reports/{reportId}"),
    Operation(
        "getReportDocument",
        "reports_2021-06-30.json",
        "GET",
        "/reports/2021-06-30/documents/{reportDocumentId}",
    ),
    Operation(
        "createRestrictedDataToken",
        "tokens_2021-03-01.json",
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
    ),
    Operation("createFeedDocument", "feeds_2021-06-30.json", "POST", "/feeds/2021-06-30/documents"),
    Operation("createFeed", "feeds_2021-06-30.json", "POST", "/feeds/2021-06-30/feeds"),
    Operation("getFeed", "feeds_2021-06-30.json", "GET", "/feeds/2021-06-30/feeds/{feedId}"),
    Operation(
        "getFeedDocument", "feeds_2021-06-30.json", "GET", "/feeds/2021-06-30/documents/{feedDocumentId}"
    ),
    Operation(
        "getListingsItem",
        "listingsItems_2021-08-01.json",
        "GET",
        "/listings/2021-08-01/items/{sellerId}/{sku}",
    ),
    Operation(
        "patchListingsItem",
        "listingsItems_2021-08-01.json",
        "PATCH",
        "/listings/2021-08-01/items/{sellerId}/{sku}",
    ),
    Operation(
        "searchListingsItems", "listingsItems_2021-08-01.json", "GET", "/listings/2021-08-01/items/{sellerId}"
    ),
    Operation("getMarketplaceParticipations", "sellers.json", "GET", "/sellers/v1/marketplaceParticipations"),
)

_warned: set[str] = set()


def note_call(name: str) -> None:
    """Log, once per process, that an operation Amazon is removing is still being called."""
    op = OPERATIONS.get(name)
    if op is None or op.removal is None or name in _warned:
        return
    _warned.add(name)
    log.warning("%s (a fallback path)", op.removal_notice())


def removal_warnings(names: set[str] | frozenset[str]) -> list[str]:
    """One line per operation among ``names`` that Amazon has a removal date for."""
    return [notice for name in sorted(names) if (notice := OPERATIONS[name].removal_notice())]
