"""The SP-API client against the sandbox over real loopback HTTP (time-scaled, no real waits)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ml_connector.clock import SteppedClock
from ml_connector.errors import AuthenticationError, PermanentError
from ml_connector.model import Money
from ml_connector.sandbox.catalog import MARKETPLACES
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.sources.amazon import LwaCredentials, price_patch, quantity_patch
from ml_connector.sources.amazon.order_pages import OrderPosition, each_order

MARKETS = list(MARKETPLACES)


def _expected(sandbox, after) -> set[str]:
    latest = sandbox.clock.now() - timedelta(minutes=2, seconds=5)
    return {o.order_id for o in sandbox.state.orders if after <= o.last_updated < latest}


def test_search_orders_follows_every_page_with_items_inline(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=61)
    pages = list(client.search_orders(MARKETS, after, page_size=40))
    orders = [order for page in pages for order in page.orders]
    assert {o.amazon_order_id for o in orders} == _expected(sandbox, after)
    assert len(orders) == len({o.amazon_order_id for o in orders})
    assert client.calls["searchOrders"] == -(-len(orders) // 40)
    assert all(o.items for o in orders)
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
    assert all(page.next.token and page.next.before == pages[0].position.before for page in pages[:-1])
    assert pages[-1].watermark == pages[0].position.before  # the echoed lastUpdatedBefore
    shipped = next(o for o in orders if o.status == "Shipped")
    assert shipped.order_total.currency == MARKETPLACES[shipped.marketplace_id].currency
    assert shipped.order_total.amount == sum(
        i.item_price.amount
        + (i.item_tax.amount if i.item_tax else 0)
        + (i.shipping_price.amount if i.shipping_price else 0)
        for i in shipped.items
    )


def test_v0_fallback_gives_the_same_orders(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=5)
    new = {o.amazon_order_id: o for o in each_order(client.search_orders(MARKETS, after))}
    old = {o.amazon_order_id: o for o in each_order(client.get_orders_v0(MARKETS, after))}
    assert new.keys() == old.keys()
    for order_id, order in new.items():
        if order.status == "Pending":  # v0 leaves prices out while an order is pending
            continue
        assert [(i.sku, i.quantity, i.item_price) for i in order.items] == [
            (i.sku, i.quantity, i.item_price) for i in old[order_id].items
        ]
    assert client.calls["getOrderItems"] == len(old)


def test_a_search_resumed_from_a_stored_position_reads_the_rest_once(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=61)
    pages = client.search_orders(MARKETS, after, page_size=25)
    first = [next(pages), next(pages)]
    pages.close()  # the worker died here; what it stored is the position after its second page
    stored = OrderPosition.from_json(first[-1].cursor())
    rest = list(client.search_orders(MARKETS, after - timedelta(days=9), resume=stored, page_size=25))
    seen = [o.amazon_order_id for page in first + rest for o in page.orders]
    assert sorted(seen) == sorted(_expected(sandbox, after)) and len(seen) == len(set(seen))
    assert rest[0].position == stored  # the window the position names, not the caller's start


def test_an_expired_page_token_reads_its_window_again_from_the_start(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=61)
    pages = client.search_orders(MARKETS, after, page_size=25)
    first = next(pages)
    pages.close()
    stored = OrderPosition.from_json(first.cursor())
    sandbox.clock.advance(25 * 3600)  # Amazon's page tokens live 24 hours
    fresh = OrderPosition(stored.after, stored.before, stored.token, issued=None)  # age unknown: tried
    calls = client.calls["searchOrders"]
    rest = list(client.search_orders(MARKETS, after, resume=fresh, page_size=25))
    assert client.calls["searchOrders"] == calls + 1 + len(rest)  # one refused call, then the window
    assert rest[0].position == OrderPosition(stored.after, stored.before)
    ids = {o.amazon_order_id for page in rest for o in page.orders}
    assert ids == {o.order_id for o in sandbox.state.orders if stored.after <= o.last_updated < stored.before}
    known = list(
        client.search_orders(MARKETS, after, resume=stored, page_size=25)
    )  # age known: no call wasted
    assert client.calls["searchOrders"] == calls + 1 + 2 * len(rest)
    assert known[0].position.token is None


def test_token_renewed_ahead_of_expiry_in_the_middle_of_a_run(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=61)
    seen = []
    for number, order in enumerate(each_order(client.search_orders(MARKETS, after, page_size=50))):
        seen.append(order.amazon_order_id)
        if number == 60:
            sandbox.clock.advance(3590)  # the token is now 60 s from its end: renew before using it
    assert set(seen) == _expected(sandbox, after)
    assert client.auth.renewals == 2


def test_unauthorized_answered_by_one_renewal_and_one_retry(sandbox) -> None:
    client = sandbox.client()
    client.get_marketplace_participations()
    sandbox.state.tokens.clear()  # Amazon forgot our token: 403 Unauthorized
    assert client.get_marketplace_participations()
    assert client.auth.renewals == 2


def test_revoked_authorisation_and_expired_secret_are_clear_errors(sandbox) -> None:
    sandbox.state.revoke_authorization()
    with pytest.raises(AuthenticationError, match="invalid_grant.*authorise the app again") as caught:
        sandbox.client().get_marketplace_participations()
    assert sandbox.state.credentials.refresh_token not in str(caught.value)
    sandbox.state.client_secret_expired = True
    with pytest.raises(AuthenticationError, match="180 days") as caught:
        sandbox.client().get_marketplace_participations()
    assert sandbox.state.credentials.client_secret not in str(caught.value)
    creds = LwaCredentials("id", "secret", "refresh")
    assert "secret" not in repr(creds) and "refresh" not in repr(creds)


def test_grantless_token_from_client_credentials(sandbox) -> None:
    creds = sandbox.state.credentials
    client = sandbox.client(
        credentials=LwaCredentials(
            creds.client_id, creds.client_secret, scope="sellingpartnerapi::notifications"
        )
    )
    assert client.auth.access_token().startswith("Atza|")


def test_storm_of_429_5xx_drops_and_expired_tokens_loses_nothing(make_sandbox) -> None:
    plan = FaultPlan(
        rate_429=0.25, rate_500=0.05, rate_503=0.05, rate_drop=0.06, rate_expire_token=0.04, seed=11
    )
    box = make_sandbox(scale=3000, faults=plan)
    client = box.client(attempts=12)
    after = box.clock.now() - timedelta(days=61)
    orders = list(each_order(client.search_orders(MARKETS, after, page_size=10)))
    assert {o.amazon_order_id for o in orders} == _expected(box, after)
    assert len(orders) == len(_expected(box, after))
    assert sum(client.throttled.values()) > 0
    groups = list(client.list_financial_event_groups(after))
    assert len(groups) == sum(s.start >= after for s in box.state.world.settlements)
    assert all(plan.injected.get(kind, 0) > 0 for kind in ("429", "500", "503", "drop", "expire_token")), (
        plan.injected
    )


def test_client_errors_are_never_retried(sandbox) -> None:
    client = sandbox.client()
    with pytest.raises(PermanentError, match="NotFound"):
        client.get_order("111-1111111-1111111")
    assert client.calls["getOrder"] == 1


def test_rdt_only_when_pii_is_asked_for(sandbox) -> None:
    client = sandbox.client()
    after = sandbox.clock.now() - timedelta(days=3)
    plain = list(each_order(client.get_orders_v0(MARKETS, after)))
    assert client.calls["createRestrictedDataToken"] == 0
    assert all(o.ship_to is None or o.ship_to.name is None for o in plain)
    assert all(o.ship_to and o.ship_to.city for o in plain)
    with_pii = list(each_order(client.get_orders_v0(MARKETS, after, pii=True)))
    assert client.calls["createRestrictedDataToken"] == 1
    assert all(o.ship_to.name and o.buyer_email for o in with_pii)
    searched = list(each_order(client.search_orders(MARKETS, after, pii=True)))  # Orders 2026: no RDT at all
    assert client.calls["createRestrictedDataToken"] == 1
    assert all(o.ship_to.name for o in searched)
    assert all(o.ship_to is None for o in each_order(client.search_orders(MARKETS, after)))


def test_confirm_shipment_and_order_status_hooks(sandbox) -> None:
    from ml_connector.model import ShipmentConfirmation

    client = sandbox.client()
    order = next(o for o in sandbox.state.orders if o.channel == "MFN" and o.status == "Unshipped")
    now = sandbox.clock.now()
    client.confirm_shipment(
        ShipmentConfirmation(
            order.order_id,
            order.marketplace.marketplace_id,
            "UPS",
            "1Z1",
            now,
            ((order.items[0].order_item_id, 1),),
        )
    )
    assert sandbox.state.confirmed_shipments[-1]["orderId"] == order.order_id
    client.confirm_shipment(  # a retry of the same package (lost reply) adds nothing
        ShipmentConfirmation(
            order.order_id,
            order.marketplace.marketplace_id,
            "UPS",
            "1Z1",
            now,
            ((order.items[0].order_item_id, 1),),
        )
    )
    assert [c["orderId"] for c in sandbox.state.confirmed_shipments].count(order.order_id) == 1
    assert order.status == "Shipped"
    sandbox.clock.advance(180)  # visible to lastUpdatedAfter searches after the two-minute rule
    found = [
        o
        for o in each_order(client.search_orders(MARKETS, now - timedelta(seconds=1)))
        if o.amazon_order_id == order.order_id
    ]
    assert found and found[0].status == "Shipped"


def test_settlement_reports_read_back_and_balance_to_their_events(sandbox) -> None:
    from ml_connector.settlement.reader import open_report  # the settlement engine's reader

    client = sandbox.client()
    fresh = [r for r in sandbox.state.reports.values() if r.queue_seconds]
    for report in fresh:  # pin the newest reports in the queue, whatever the machine's speed
        report.queued_at, report.queue_seconds, report.work_seconds = sandbox.clock.monotonic(), 3600, 3600
    reports = list(client.list_settlement_reports(sandbox.clock.now() - timedelta(days=90)))
    closed = [s for s in sandbox.state.world.settlements if s.closed]
    assert fresh and len(reports) == len(closed) - len(fresh)
    totals = []
    for info in reports:
        report = open_report(client.download_report(info.report_id))
        lines = list(report.lines())
        settlement = next(s for s in closed if s.settlement_id == report.settlement.settlement_id)
        assert sum(line.amount.amount for line in lines) == report.settlement.total.amount == settlement.total
        assert len(lines) == len(settlement.lines())
        totals.append(report.settlement.total.amount)
    assert any(t < 0 for t in totals) and any(t > 0 for t in totals)
    statuses = [client.get_report(fresh[0].report_id).status]
    sandbox.clock.advance(3601)
    statuses.append(client.get_report(fresh[0].report_id).status)
    sandbox.clock.advance(3600)
    statuses.append(client.get_report(fresh[0].report_id).status)
    assert statuses == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    assert len(list(client.list_settlement_reports(sandbox.clock.now() - timedelta(days=90)))) == len(closed)


def test_finances_groups_events_and_transactions_agree(sandbox) -> None:
    client = sandbox.client()
    groups = list(client.list_financial_event_groups(sandbox.clock.now() - timedelta(days=90)))
    for group in groups:
        lines = list(client.list_financial_events_by_group(group.group_id))
        assert sum(line.amount.amount for line in lines) == group.original_total.amount
        transactions = list(
            client.list_transactions(related_identifier=("FINANCIAL_EVENT_GROUP_ID", group.group_id))
        )
        assert sum(t.total.amount for t in transactions) == group.original_total.amount
        assert all(t.total.currency == group.original_total.currency for t in transactions)


def test_report_window_and_paging_rules_are_enforced(sandbox) -> None:
    client = sandbox.client()
    with pytest.raises(PermanentError, match="2 minutes"):
        client.transport.call(
            "searchOrders",
            "GET",
            "/orders/2026-01-01/orders",
            params={"lastUpdatedAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": sandbox.clock.now()},
        )
    with pytest.raises(PermanentError, match="only parameter"):
        client.transport.call(
            "getReports", "GET", "/reports/2021-06-30/reports", params={"nextToken": "x", "pageSize": 5}
        )


def test_listings_patch_and_feed_change_the_sandbox_listing(sandbox) -> None:
    client = sandbox.client()
    sku, market = "MLC-MUG-01A", MARKETS[0]
    result = client.patch_listings_item(
        sku, market, [price_patch(market, Money.of("21.50", "USD")), quantity_patch(9)]
    )
    assert result.status == "ACCEPTED"
    listing = sandbox.state.listings[(sku, market)]
    assert (listing.price, listing.quantity) == (Money.of("21.50", "USD").amount, 9)
    state = client.get_listing_state(sku, market)
    assert (state.price, state.quantity, state.asin) == (Money.of("21.50", "USD"), 9, listing.asin)
    listed = {s.sku: s for s in client.list_listings(market)}
    assert listed[sku] == state and client.calls["searchListingsItems"] == 2  # 40 SKUs, 20 a page
    feed_id = client.submit_listings_feed(
        [
            {
                "messageId": 1,
                "sku": sku,
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [quantity_patch(2)],
            }
        ],
        [market],
    )
    sandbox.state.feeds[feed_id].queued_at = sandbox.clock.monotonic() + 3600  # hold it in the queue
    assert client.get_feed(feed_id).status == "IN_QUEUE" and client.get_feed_result(feed_id) is None
    sandbox.clock.advance(3600 + 120)
    assert client.get_feed_result(feed_id)["summary"]["messagesAccepted"] == 1
    assert listing.quantity == 2 and sandbox.state.feeds_received


def test_rate_limit_header_lowers_the_bucket() -> None:
    from ml_connector.clock import Clock
    from ml_connector.sources.amazon.limits import RateLimiter

    limiter = RateLimiter(clock=Clock(1000))
    bucket = limiter.bucket("getOrder")
    bucket.observe_limit(0.1)
    assert bucket.rate == pytest.approx(0.1 * bucket.margin)
    bucket.throttled()
    assert bucket.rate < 0.1 * bucket.margin
    for _ in range(20):
        bucket.succeeded()
    assert bucket.rate == pytest.approx(0.1 * bucket.margin)


def test_a_few_thousand_orders_at_the_documented_rates_see_no_429(make_sandbox) -> None:
    # Stepped time: simulated time moves only when the client sleeps, so real scheduling delays on a
    # loaded machine (which a scaled clock multiplies into simulated seconds, more than the client's
    # 3 % pacing margin) cannot make a call arrive early. What is left is the pacing itself.
    box = make_sandbox(clock=SteppedClock(), order_count=3000)
    client = box.client()
    client.auth.access_token()
    after = box.clock.now() - timedelta(days=61)
    started = box.clock.monotonic()
    count = sum(len(page.orders) for page in client.search_orders(MARKETS, after))
    elapsed = box.clock.monotonic() - started
    assert count == 3000
    assert sum(box.state.throttled.values()) == 0
    assert client.throttled.get("searchOrders", 0) == 0
    assert client.calls["searchOrders"] == 30  # attempts, retries included: 0.01 calls per order
    floor = (30 - 20) / 0.0056
    assert floor < elapsed < floor / 0.97 * 1.01  # paced by the bucket at 97 % of the plan


def test_the_live_rate_amazon_reports_paces_the_client(make_sandbox) -> None:
    box = make_sandbox(scale=1000)
    box.state.set_live_rate("getOrderItems", 0.25)  # this seller's plan is half the default
    client = box.client()
    orders = list(each_order(client.get_orders_v0(MARKETS, box.clock.now() - timedelta(days=12))))
    assert len(orders) > 45  # well past the burst of 30
    assert client.transport.limiter.bucket("getOrderItems").ceiling == pytest.approx(0.25 * 0.97)
    assert box.state.throttled.get("getOrderItems", 0) <= 3


def test_a_new_order_shows_up_in_the_next_incremental_sync(make_sandbox) -> None:
    sandbox = make_sandbox(scale=10)  # slow time: the two-minute rule must still hold at the second search
    client = sandbox.client()
    *_, last = client.search_orders(MARKETS, sandbox.clock.now() - timedelta(days=61))
    watermark = last.watermark
    placed = sandbox.state.place_order("A1PA6795UKMFR9")
    assert [
        o.amazon_order_id for o in each_order(client.search_orders(MARKETS, watermark))
    ] == []  # two-minute rule
    sandbox.clock.advance(180)
    found = list(each_order(client.search_orders(MARKETS, watermark)))
    assert [o.amazon_order_id for o in found] == [placed.order_id]
    assert found[0].currency == "EUR" and found[0].status == "Unshipped"


def test_clients_of_one_seller_share_its_buckets(sandbox) -> None:
    first, second = sandbox.client(), sandbox.client()
    assert first.transport.limiter is second.transport.limiter


def test_a_refused_rdt_is_requested_once_more(sandbox) -> None:
    client = sandbox.client()
    order = next(o for o in sandbox.state.orders if o.status == "Shipped")
    assert client.get_order_address(order.order_id).name == order.buyer_name
    for value in [t for t, issued in sandbox.state.tokens.items() if issued.kind == "rdt"]:
        del sandbox.state.tokens[value]  # Amazon no longer honours it
    assert client.get_order_address(order.order_id).line1 == order.street
    assert client.calls["createRestrictedDataToken"] == 2


def test_lwa_accepts_form_and_json_bodies_and_missing_tokens_get_amazons_403(sandbox) -> None:
    import httpx

    creds = sandbox.state.credentials
    fields = {
        "grant_type": "refresh_token",
        "refresh_token": creds.refresh_token,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    with httpx.Client() as http:
        as_json = http.post(sandbox.url + "/auth/o2/token", json=fields).json()
        as_form = http.post(sandbox.url + "/auth/o2/token", data=fields).json()
        assert as_json["access_token"].startswith("Atza|") and as_json["expires_in"] == 3600
        assert as_form["token_type"] == "bearer"
        missing = http.get(sandbox.url + "/sellers/v1/marketplaceParticipations")
    sample = json.loads((Path(__file__).parent / "samples" / "error_403_missing_token.json").read_text())
    assert missing.status_code == 403
    assert missing.json()["errors"][0] == sample["errors"][0]
    assert "x-amzn-RateLimit-Limit" not in missing.headers


def test_a_client_from_a_stored_connection(sandbox) -> None:
    from ml_connector.sources.amazon import SpApiClient

    creds = sandbox.state.credentials
    client = SpApiClient.from_connection(
        {"region": "na", "marketplaces": MARKETS, "sandbox_url": sandbox.url},
        {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        },
        clock=sandbox.clock,
    )
    with client:
        assert {p.marketplace_id for p in client.get_marketplace_participations()} == set(MARKETS)
        assert client.get_listing_state("MLC-MUG-01A", MARKETS[0]).price is not None


def test_a_report_still_being_prepared_is_waited_for_and_the_wait_announced(sandbox) -> None:
    from ml_connector.sandbox.amazon.reports import ORDER_REPORT
    from ml_connector.transport.waits import listen

    client = sandbox.client()
    report_id = client.create_report(ORDER_REPORT, ["ATVPDKIKX0DER"])
    assert client.get_report(report_id).status == "IN_QUEUE"
    heard: list[tuple[str, float]] = []
    unlisten = listen(lambda reason, seconds: heard.append((reason, seconds)))
    try:
        data = client.download_report(report_id)
    finally:
        unlisten()
    assert data  # the document, once Amazon said DONE
    assert heard and all(f"report {report_id} being prepared by Amazon" in r for r, _s in heard)
    assert {r.rsplit("(", 1)[1] for r, _s in heard} >= {"IN_QUEUE)", "IN_PROGRESS)"}
    assert [s for _r, s in heard][:3] == [15.0, 30.0, 60.0]


def test_a_report_prepared_for_too_long_is_deferred_with_its_reason(sandbox, monkeypatch) -> None:
    from ml_connector.errors import TransientError
    from ml_connector.sandbox.amazon.reports import ORDER_REPORT
    from ml_connector.sources.amazon.api import reports

    monkeypatch.setattr(reports, "REPORT_WAIT_LIMIT", 20.0)
    client = sandbox.client()
    report_id = client.create_report(ORDER_REPORT, ["ATVPDKIKX0DER"])
    with pytest.raises(TransientError, match=f"report {report_id} is still being prepared by Amazon"):
        client.download_report(report_id)
