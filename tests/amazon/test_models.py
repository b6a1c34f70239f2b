"""Every sandbox response of every operation the connector uses, checked against Amazon's models."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from ml_connector.errors import AuthenticationError, PermanentError
from ml_connector.model import Money, ShipmentConfirmation
from ml_connector.sandbox.catalog import MARKETPLACES
from ml_connector.sources.amazon import balances as amazon_figures
from ml_connector.sources.amazon import price_patch, quantity_patch
from ml_connector.sources.amazon.order_pages import each_order

from .swagger import Models, feed_validator, processing_report_validator

REQUIRED = {
    ("orders_2026-01-01.json", "searchOrders"),
    ("orders_2026-01-01.json", "getOrder"),
    ("ordersV0.json", "getOrders"),
    ("ordersV0.json", "getOrder"),
    ("ordersV0.json", "getOrderItems"),
    ("ordersV0.json", "getOrderAddress"),
    ("ordersV0.json", "confirmShipment"),
    ("financesV0.json", "listFinancialEventGroups"),
    ("financesV0.json", "listFinancialEventsByGroupId"),
    ("finances_2024-06-19.json", "listTransactions"),
    ("finances_2024-06-19.json", "listBalances"),
    ("finances_2024-06-19.json", "listSummary"),
    ("transfers_2024-06-01.json", "listPayouts"),
    ("reports_2021-06-30.json", "getReports"),
    ("reports_2021-06-30.json", "getReport"),
    ("reports_2021-06-30.json", "createReport"),
    ("reports_2021-06-30.json", "getReportDocument"),
    ("tokens_2021-03-01.json", "createRestrictedDataToken"),
    ("listingsItems_2021-08-01.json", "getListingsItem"),
    ("listingsItems_2021-08-01.json", "patchListingsItem"),
    ("listingsItems_2021-08-01.json", "searchListingsItems"),
    ("feeds_2021-06-30.json", "createFeedDocument"),
    ("feeds_2021-06-30.json", "createFeed"),
    ("feeds_2021-06-30.json", "getFeed"),
    ("feeds_2021-06-30.json", "getFeedDocument"),
    ("sellers.json", "getMarketplaceParticipations"),
}


def test_every_operation_answers_in_the_official_shape(sandbox) -> None:
    seen: list[tuple[str, str, int, bytes]] = []
    sent: list[tuple[str, str, bytes]] = []
    uploads: list[bytes] = []

    def record(response: httpx.Response) -> None:
        response.read()
        request = response.request
        path = request.url.path
        if path.startswith("/_sandbox/uploads"):
            uploads.append(request.content)
        elif not path.startswith(("/_sandbox", "/auth")):
            seen.append((request.method, path, response.status_code, response.content))
            sent.append((request.method, path, request.content))

    client = sandbox.client(recorder=record)
    now = sandbox.clock.now()
    markets = list(MARKETPLACES)
    orders = list(each_order(client.search_orders(markets, now - timedelta(days=70), pii=True, page_size=50)))
    client.get_order(orders[0].amazon_order_id, pii=True)
    list(each_order(client.get_orders_v0(markets[:1], now - timedelta(days=2), pii=True)))
    list(each_order(client.get_orders_v0(markets[1:2], now - timedelta(days=2))))
    assert client.get_order_v0(orders[1].amazon_order_id, pii=True).ship_to.name
    assert client.get_order_address(orders[1].amazon_order_id).line1
    with pytest.raises(AuthenticationError):  # without an RDT: 403, after one renewal
        client.transport.call(
            "getOrderAddress", "GET", f"/orders/v0/orders/{orders[1].amazon_order_id}/address"
        )
    mfn = next(o for o in sandbox.state.orders if o.channel == "MFN" and o.status == "Unshipped")
    client.confirm_shipment(
        ShipmentConfirmation(
            mfn.order_id,
            mfn.marketplace.marketplace_id,
            "UPS",
            "1Z999",
            now,
            tuple((i.order_item_id, i.quantity) for i in mfn.items),
        )
    )
    afn = next(o for o in sandbox.state.orders if o.channel == "AFN")
    with pytest.raises(PermanentError):
        client.confirm_shipment(
            ShipmentConfirmation(afn.order_id, afn.marketplace.marketplace_id, "UPS", "1", now, (("x", 1),))
        )
    with pytest.raises(PermanentError):
        client.get_order("999-0000000-0000000")
    groups = list(client.list_financial_event_groups(now - timedelta(days=90)))
    for group in groups[:6]:
        list(client.list_financial_events_by_group(group.group_id))
    list(client.list_transactions(posted_after=now - timedelta(days=20)))
    list(client.list_transactions(related_identifier=("ORDER_ID", orders[0].amazon_order_id)))
    deferred = amazon_figures.list_deferred_transactions(client, markets[0], now - timedelta(days=70), now)
    assert deferred and {tx.status for tx in deferred} <= {"DEFERRED", "DEFERRED_RELEASED"}
    assert all(tx.reason in ("B2B", "DD7") and tx.maturity for tx in deferred)
    assert amazon_figures.list_balances(client, markets[:2], as_of=(now - timedelta(days=20)).date())
    assert amazon_figures.list_balances(client, markets[:1], balance_type="DEFERRED")
    assert amazon_figures.list_summary(client, groups[0].group_id) == []  # a group id is no settlement id
    payouts = list(amazon_figures.list_payouts(client, created_after=now - timedelta(days=70)))
    assert payouts and amazon_figures.list_summary(client, payouts[0].settlement_ids[0])
    reports = list(client.list_settlement_reports(now - timedelta(days=90)))
    client.download_report(reports[0].report_id)
    report_id = client.create_report("GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL", markets[:1])
    client.get_report(report_id)
    sku = sandbox.state.listings and next(iter(sandbox.state.listings))[0]
    client.get_listings_item(sku, markets[0])
    assert len(list(client.list_listings(markets[1]))) == len(sandbox.state.listings) // len(markets)
    client.patch_listings_item(
        sku, markets[0], [price_patch(markets[0], Money.of("19.99", "USD")), quantity_patch(4)]
    )
    client.patch_listings_item(
        sku, markets[0], [{"op": "replace", "path": "/attributes/fulfillment_availability", "value": [{}]}]
    )
    feed_id = client.submit_listings_feed(
        [
            {
                "messageId": 1,
                "sku": sku,
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [quantity_patch(3)],
            },
            {
                "messageId": 2,
                "sku": "NO-SUCH-SKU",
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [quantity_patch(1)],
            },
        ],
        markets[:1],
    )
    client.get_feed(feed_id)
    sandbox.clock.advance(120)
    result = client.get_feed_result(feed_id)
    client.get_marketplace_participations()
    # error shapes: a 400 (both windows), and a 429 from the usage plan
    with pytest.raises(PermanentError):
        client.transport.call(
            "searchOrders",
            "GET",
            "/orders/2026-01-01/orders",
            params={"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedAfter": "2026-01-01T00:00:00Z"},
        )
    token = client.auth.access_token()
    for _ in range(20):
        response = client._http.get(
            sandbox.url + "/sellers/v1/marketplaceParticipations", headers={"x-amz-access-token": token}
        )
        record(response)

    models = Models()
    problems: list[str] = []
    covered: set[tuple[str, str]] = set()
    statuses: set[int] = set()
    for method, path, status, content in seen:
        operation = models.find(method, path)
        assert operation is not None, f"{method} {path} is not an SP-API operation"
        covered.add((operation.model, operation.operation_id))
        statuses.add(status)
        body = json.loads(content) if content else None
        problems += models.errors(method, path, status, body)
    for method, path, content in sent:
        problems += models.request_errors(method, path, json.loads(content) if content else None)
    assert not problems, "\n".join(problems[:20])
    assert uploads and all(not list(feed_validator().iter_errors(json.loads(u))) for u in uploads)
    assert covered >= REQUIRED, sorted(REQUIRED - covered)
    assert {200, 201, 202, 204, 400, 403, 404, 429} <= statuses
    assert result is not None and not list(processing_report_validator().iter_errors(result))
    assert result["summary"] == {
        "errors": 1,
        "warnings": 0,
        "messagesProcessed": 2,
        "messagesAccepted": 1,
        "messagesInvalid": 1,
    }
