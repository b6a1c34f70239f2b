"""searchOrders (2026-01-01): maxResultsPerPage and includedData may change between pages (the
model says so); any other filter changed under the same paginationToken is refused."""

from __future__ import annotations

from datetime import timedelta

import httpx
from tests.amazon.conftest import Sandbox


def test_page_size_and_included_data_may_change_between_pages(sandbox: Sandbox) -> None:
    token = sandbox.state.issue("access")
    after = (sandbox.clock.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = {"marketplaceIds": "ATVPDKIKX0DER", "createdAfter": after}
    with httpx.Client(base_url=sandbox.url, headers={"x-amz-access-token": token}) as http:
        first = http.get("/orders/2026-01-01/orders", params=base | {"maxResultsPerPage": "5"})
        assert first.status_code == 200, first.text
        page = first.json()["pagination"]["nextToken"]
        changed = base | {"maxResultsPerPage": "7", "includedData": "BUYER", "paginationToken": page}
        second = http.get("/orders/2026-01-01/orders", params=changed)
        assert second.status_code == 200, second.text
        later = (sandbox.clock.now() - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")
        other = base | {"createdAfter": later, "paginationToken": page}
        assert http.get("/orders/2026-01-01/orders", params=other).status_code == 400
