"""Listings feeds as an Amazon-side posting target: many listing updates of one marketplace as one
JSON_LISTINGS_FEED, found when Amazon already shows every update in it; its processing report read
per SKU turns each SKU's record into posted or refused (with Amazon's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.sources.amazon import SpApiClient
from ml_connector.targets.amazon.listings import ALREADY_SHOWN, ListingStates, ListingUpdate

LISTINGS_FEED = "listings_feed"


@dataclass(frozen=True, slots=True)
class ListingsFeed:
    """Many listing updates of one marketplace as one JSON_LISTINGS_FEED."""

    key: str  # "FEED-<marketplace>-<n>"
    marketplace_id: str
    updates: tuple[ListingUpdate, ...]
    kind: str = LISTINGS_FEED

    def messages(self) -> list[dict]:
        return [
            {
                "messageId": index,
                "sku": update.sku,
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": update.patches(),
            }
            for index, update in enumerate(self.updates, start=1)
        ]


class ListingsFeedTarget:
    """Submits one ListingsFeed; it exists already when Amazon shows every update in it."""

    def __init__(self, amazon: SpApiClient, states: ListingStates) -> None:
        self._amazon = amazon
        self._states = states

    def find(self, document: ListingsFeed) -> str | None:
        shown = self._states.for_feed(document.key, document.marketplace_id)
        if all(u.shown_by(shown.get((u.sku, u.marketplace_id))) for u in document.updates):
            return ALREADY_SHOWN
        return None

    def find_all(self, document: ListingsFeed) -> list[str]:
        found = self.find(document)
        return [] if found is None else [found]

    def post(self, document: ListingsFeed) -> str:
        return self._amazon.submit_listings_feed(document.messages(), [document.marketplace_id])


@dataclass
class FeedReport:
    """A JSON_LISTINGS_FEED processing report read per SKU (messages without issues were accepted)."""

    feed_id: str
    issues: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, feed_id: str, report: Mapping[str, Any]) -> FeedReport:
        result = cls(feed_id)
        for issue in report.get("issues") or ():
            if str(issue.get("severity", "ERROR")).upper() != "ERROR":
                continue
            sku = str(issue.get("sku") or "")
            result.issues.setdefault(sku, []).append(f"{issue.get('code')}: {issue.get('message')}")
        return result


class FeedResultTarget:
    """Records one SKU's line of a processed feed: the write was the feed itself (posted once under
    its own key); this target only turns the report's verdict into the SKU record's state."""

    def __init__(self, report: FeedReport) -> None:
        self._report = report

    def find(self, document: ListingUpdate) -> str | None:
        return None

    def post(self, document: ListingUpdate) -> str:
        problems = self._report.issues.get(document.sku)
        if problems:
            raise PermanentError(f"feed {self._report.feed_id} refused {document.sku}: {'; '.join(problems)}")
        return f"feed {self._report.feed_id}"
