"""Finances v0 as the model has it (listFinancialEvents, ByOrderId, ByGroupId with dates),
Sellers getAccount, and presigned URLs that point at the sandbox's socket whatever Host says."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ml_connector.sandbox.amazon.views import iso

from .swagger import Models

MODELS = Models()


def _http(sandbox) -> httpx.Client:
    creds = sandbox.state.credentials
    answer = httpx.post(
        sandbox.url + "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    token = answer.json()["access_token"]
    return httpx.Client(base_url=sandbox.url, headers={"x-amz-access-token": token}, timeout=10)


def _checked(response: httpx.Response) -> dict:
    errors = MODELS.errors(
        response.request.method, response.request.url.path, response.status_code, response.json()
    )
    assert errors == []
    return response.json()


def _all_pages(http: httpx.Client, path: str, params: dict) -> list[dict]:
    pages, token = [], None
    for _ in range(100):
        answer = http.get(path, params={**params, **({"NextToken": token} if token else {})})
        assert answer.status_code == 200, answer.text
        payload = _checked(answer)["payload"]
        pages.append(payload["FinancialEvents"])
        token = payload.get("NextToken")
        if not token:
            return pages
    raise AssertionError("paging never ended")


def _shipment_orders(pages: list[dict]) -> set[str]:
    return {e["AmazonOrderId"] for page in pages for e in page.get("ShipmentEventList", [])}


def test_list_financial_events_by_date_pages_through_released_events(sandbox) -> None:
    http = _http(sandbox)
    now = sandbox.clock.now()
    after, before = now - timedelta(days=20), now - timedelta(days=5)
    pages = _all_pages(
        http,
        "/finances/v0/financialEvents",
        {"PostedAfter": iso(after), "PostedBefore": iso(before), "MaxResultsPerPage": 25},
    )
    settled = [e for s in sandbox.state.world.settlements for e in s.events if after <= e.posted < before]
    expected = {e.order.order_id for e in settled if e.kind == "shipment"}
    assert len(pages) > 1 and _shipment_orders(pages) == expected
    held = [e for e in sandbox.state.world.events if e.deferral and not e.released]
    assert not (_shipment_orders(pages) & {e.order.order_id for e in held if after <= e.posted < before})


def test_list_financial_events_date_rules(sandbox) -> None:
    http = _http(sandbox)
    now = sandbox.clock.now()
    only_before = http.get(
        "/finances/v0/financialEvents", params={"PostedBefore": iso(now - timedelta(days=1))}
    )
    assert only_before.status_code == 400 and only_before.json()["errors"][0]["code"] == "InvalidInput"
    too_late = http.get("/finances/v0/financialEvents", params={"PostedAfter": iso(now)})
    assert too_late.status_code == 400
    wide = http.get(
        "/finances/v0/financialEvents",
        params={"PostedAfter": iso(now - timedelta(days=200)), "PostedBefore": iso(now - timedelta(days=1))},
    )
    assert _checked(wide)["payload"]["FinancialEvents"] == {}  # more than 180 days apart: empty
    token_moved = http.get(
        "/finances/v0/financialEvents",
        params={"PostedAfter": iso(now - timedelta(days=30)), "MaxResultsPerPage": 1},
    ).json()["payload"]["NextToken"]
    other = http.get(
        "/finances/v0/financialEvents",
        params={
            "PostedAfter": iso(now - timedelta(days=29)),
            "MaxResultsPerPage": 1,
            "NextToken": token_moved,
        },
    )
    assert other.status_code == 400


def test_list_financial_events_by_order_id(sandbox) -> None:
    http = _http(sandbox)
    settled = next(
        e for s in sandbox.state.world.settlements for e in s.events if e.kind == "shipment" and e.order
    )
    order_id = settled.order.order_id
    pages = _all_pages(http, f"/finances/v0/orders/{order_id}/financialEvents", {})
    assert _shipment_orders(pages) == {order_id}
    bad = http.get("/finances/v0/orders/not-an-order/financialEvents")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "InvalidInput"


def test_list_financial_events_by_group_honours_posted_dates(sandbox) -> None:
    http = _http(sandbox)
    group = next(s for s in sandbox.state.world.settlements if s.closed and len(s.events) > 4)
    middle = sorted(e.posted for e in group.events)[len(group.events) // 2]
    path = f"/finances/v0/financialEventGroups/{group.group_id}/financialEvents"
    pages = _all_pages(http, path, {"PostedAfter": iso(middle)})
    expected = {e.order.order_id for e in group.events if e.kind == "shipment" and e.posted >= middle}
    assert _shipment_orders(pages) == expected


def test_get_account_matches_the_sellers_model(sandbox) -> None:
    body = _checked(_http(sandbox).get("/sellers/v1/account"))
    assert body["payload"]["sellingPlan"] == "PROFESSIONAL"
    assert {p["marketplace"]["countryCode"] for p in body["payload"]["marketplaceParticipationList"]} >= {
        "US",
        "GB",
    }


@pytest.mark.parametrize("host", ["7.0.0.1:1", "sellingpartnerapi-na.amazon.com"])
def test_document_urls_point_at_the_listening_socket(sandbox, host: str) -> None:
    http = _http(sandbox)
    created = http.post(
        "/feeds/2021-06-30/documents", json={"contentType": "application/json"}, headers={"host": host}
    )
    assert created.status_code == 201
    assert created.json()["url"].startswith(sandbox.url + "/_sandbox/uploads/")
    now = sandbox.clock.monotonic()
    report = next(r for r in sandbox.state.reports.values() if r.status(now) == "DONE")
    document = http.get(f"/reports/2021-06-30/documents/{report.document_id}", headers={"host": host})
    assert document.json()["url"].startswith(sandbox.url + "/_sandbox/documents/")
    assert httpx.get(document.json()["url"]).status_code == 200
