"""The one paginator (sources/amazon/api/paging.py): lazy, and a token handed back twice stops the
reading with a clear error instead of calling Amazon forever."""

from __future__ import annotations

import json

import httpx
import pytest

from ml_connector.clock import Clock
from ml_connector.errors import TransientError
from ml_connector.sources.amazon import LwaCredentials, SpApiClient
from ml_connector.sources.amazon.api.paging import PagingLoopError, follow
from ml_connector.transport.retry import RetryPolicy


def _pages(tokens: dict[str | None, str | None]):
    """A fake service: page ``t`` names ``tokens[t]`` as the next; every fetch is recorded."""
    fetched: list[str | None] = []

    def fetch(token: str | None) -> dict:
        fetched.append(token)
        return {"token": token, "next": tokens[token]}

    return fetch, fetched


def test_every_page_once_until_none_is_named():
    fetch, fetched = _pages({None: "a", "a": "b", "b": None})
    pages = list(follow("op", fetch, lambda page: page["next"]))
    assert [p["token"] for p in pages] == [None, "a", "b"]
    assert fetched == [None, "a", "b"]


def test_a_caller_that_stops_early_costs_no_further_call():
    fetch, fetched = _pages({None: "a", "a": "b", "b": None})
    first = next(iter(follow("op", fetch, lambda page: page["next"])))
    assert first["token"] is None and fetched == [None]


def test_a_token_named_twice_stops_before_it_is_sent_again():
    fetch, fetched = _pages({None: "a", "a": "b", "b": "a"})
    seen = []
    with pytest.raises(PagingLoopError, match=r"SP-API listThings named a next page it had already given"):
        for page in follow("listThings", fetch, lambda page: page["next"]):
            seen.append(page["token"])
    assert fetched == [None, "a", "b"]  # "a" is not fetched a second time
    assert seen == [None, "a", "b"]


def test_a_page_naming_itself_is_a_loop_and_so_is_the_start_token():
    fetch, fetched = _pages({None: "x", "x": "x"})
    with pytest.raises(PagingLoopError):
        list(follow("op", fetch, lambda page: page["next"]))
    assert fetched == [None, "x"]
    fetch, fetched = _pages({"s": "s"})
    with pytest.raises(PagingLoopError, match="after 1 page"):
        list(follow("op", fetch, lambda page: page["next"], start="s"))
    assert fetched == ["s"]


def test_a_loop_is_transient_the_next_run_reads_again():
    assert issubclass(PagingLoopError, TransientError)


def test_the_client_stops_amazon_handing_back_the_same_listings_token():
    """Through SpApiClient and its transport: searchListingsItems that keeps naming the same next
    page costs two calls, then a one-line error naming the operation."""
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/o2/token":
            return httpx.Response(
                200, json={"access_token": "Atza|t", "expires_in": 3600, "token_type": "bearer"}
            )
        sent.append(request.url.params.get("pageToken"))
        item = {"sku": f"SKU-{len(sent)}", "summaries": [], "offers": [], "fulfillmentAvailability": []}
        body = {"numberOfResults": 40, "items": [item], "pagination": {"nextToken": "SAME"}}
        return httpx.Response(200, content=json.dumps(body), headers={"content-type": "application/json"})

    clock = Clock(1000.0)
    client = SpApiClient(
        LwaCredentials("amzn1.application-oa2-client.x", "secret", "Atzr|refresh"),
        seller_id="A1SELLER",
        base_url="https://sp.example",
        lwa_url="https://sp.example/auth/o2/token",
        clock=clock,
        retry=RetryPolicy(attempts=2, base=0.1, cap=0.1, clock=clock),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    skus = []
    with pytest.raises(PagingLoopError, match="SP-API searchListingsItems") as raised:
        for state in client.list_listings("ATVPDKIKX0DER"):
            skus.append(state.sku)
    assert sent == [None, "SAME"] and skus == ["SKU-1", "SKU-2"]
    assert "\n" not in str(raised.value)
