"""Feeds 2021-06-30: a JSON_LISTINGS_FEED submitted (createFeedDocument, upload, createFeed) and its
processing report read once Amazon is DONE."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx

from ml_connector.sources.amazon.api.common import fetch_presigned, get_json
from ml_connector.sources.amazon.resources import FeedInfo
from ml_connector.sources.amazon.transport import encode_json, parse_json

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"


def submit_listings_feed(client: SpApiClient, messages: list[dict], marketplace_ids: Iterable[str]) -> str:
    """createFeedDocument, upload, createFeed(JSON_LISTINGS_FEED); returns the feed id."""
    content_type = "application/json; charset=UTF-8"
    document = parse_json(
        client.transport.call(
            "createFeedDocument",
            "POST",
            "/feeds/2021-06-30/documents",
            body={"contentType": content_type},
        )
    )
    feed = {"header": {"sellerId": client.seller_id, "version": "2.0"}, "messages": messages}
    upload = client.transport.api.send(
        "PUT",
        document["url"],
        label="feedUpload",
        write=False,  # the same document stored again under its presigned URL
        content=encode_json(feed),
        headers={"content-type": content_type},
        auth=httpx.Auth(),  # presigned: no SP-API token
        describe="feed upload",
    )
    upload.raise_for_status()
    response = client.transport.call(
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


def get_feed(client: SpApiClient, feed_id: str) -> FeedInfo:
    data = get_json(client, "getFeed", f"/feeds/2021-06-30/feeds/{feed_id}")
    return FeedInfo(
        feed_id=data["feedId"],
        feed_type=data["feedType"],
        status=data["processingStatus"],
        result_document_id=data.get("resultFeedDocumentId"),
    )


def get_feed_result(client: SpApiClient, feed_id: str) -> dict | None:
    """The JSON_LISTINGS_FEED processing report once the feed is DONE (else None)."""
    feed = get_feed(client, feed_id)
    if feed.status != "DONE" or not feed.result_document_id:
        return None
    meta = get_json(client, "getFeedDocument", f"/feeds/2021-06-30/documents/{feed.result_document_id}")
    content = fetch_presigned(client, meta["url"], "feed result download")
    if meta.get("compressionAlgorithm") == "GZIP":
        content = gzip.decompress(content)
    return json.loads(content)
