"""The Amazon side as a posting target: listing updates, listings feeds and shipment confirmations.

The few things that flow back to Amazon go through the same posting protocol as every ERP write
(claim, query first, post, record), so each has a deterministic key, an audit trail and a replay.
"Query first" here asks Amazon whether it already shows the result: the listing already carries the
price and quantity, the order is already Shipped. Listing patches are replacements (sending one twice
leaves the same listing), and a shipment is confirmed with a package reference derived from its
tracking number, so a confirmation resent after a lost reply names the same package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.model.money import Money
from ml_connector.model.orders import ShipmentConfirmation
from ml_connector.sources.amazon import SpApiClient
from ml_connector.sources.amazon.api.listings import price_patch, quantity_patch
from ml_connector.sources.amazon.resources import ListingState

LISTING_UPDATE = "listing_update"
LISTINGS_FEED = "listings_feed"
SHIPMENT_CONFIRMATION = "shipment_confirmation"
ALREADY_SHOWN = "already-shown"


# -- listings --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingUpdate:
    """The ERP's quantity and/or price for one SKU in one marketplace (None: leave it as it is)."""

    key: str  # "LST-<marketplace>-<sku>-<n>": the n-th update of this listing by this connection
    sku: str
    marketplace_id: str
    quantity: int | None = None
    price: Money | None = None
    kind: str = LISTING_UPDATE

    def patches(self) -> list[dict]:
        patches = []
        if self.price is not None:
            patches.append(price_patch(self.marketplace_id, self.price))
        if self.quantity is not None:
            patches.append(quantity_patch(self.quantity))
        return patches

    def shown_by(self, state: ListingState | None) -> bool:
        """Amazon already shows every value this update would set."""
        if state is None:
            return False
        if self.quantity is not None and state.quantity != self.quantity:
            return False
        if self.price is not None:
            if state.price is None or state.price.currency != self.price.currency:
                return False
            if state.price.quantized().amount != self.price.quantized().amount:
                return False
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "marketplace_id": self.marketplace_id,
            "quantity": self.quantity,
            "price": self.price.as_string() if self.price else None,
            "currency": self.price.currency if self.price else None,
        }


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


class ListingStates:
    """What Amazon shows per (sku, marketplace): the run's snapshot first, then fresh reads.

    The snapshot was read a moment ago to find the changes, so the first query of a key costs no
    call; any later query of the same key (a retry after a transient error) reads Amazon again.
    """

    def __init__(self, amazon: SpApiClient, snapshot: Mapping[tuple[str, str], ListingState]) -> None:
        self._amazon = amazon
        self._snapshot = dict(snapshot)
        self._asked: set[str] = set()

    def for_update(self, key: str, sku: str, marketplace_id: str) -> ListingState | None:
        if key not in self._asked and (sku, marketplace_id) in self._snapshot:
            self._asked.add(key)
            return self._snapshot[(sku, marketplace_id)]
        self._asked.add(key)
        state = self._amazon.get_listing_state(sku, marketplace_id)
        self._snapshot[(sku, marketplace_id)] = state
        return state

    def for_feed(self, key: str, marketplace_id: str) -> Mapping[tuple[str, str], ListingState]:
        known = any(market == marketplace_id for _, market in self._snapshot)
        if key in self._asked or not known:
            self._snapshot.update(
                {(s.sku, marketplace_id): s for s in self._amazon.list_listings(marketplace_id)}
            )
        self._asked.add(key)
        return self._snapshot


class ListingUpdateTarget:
    """Posts one ListingUpdate with patchListingsItem."""

    def __init__(self, amazon: SpApiClient, states: ListingStates) -> None:
        self._amazon = amazon
        self._states = states

    def find(self, document: ListingUpdate) -> str | None:
        state = self._states.for_update(document.key, document.sku, document.marketplace_id)
        return ALREADY_SHOWN if document.shown_by(state) else None

    def find_all(self, document: ListingUpdate) -> list[str]:
        """A listing holds one state per SKU: a patch can be shown once at most (never doubled)."""
        found = self.find(document)
        return [] if found is None else [found]

    def post(self, document: ListingUpdate) -> str:
        submission = self._amazon.patch_listings_item(
            document.sku, document.marketplace_id, document.patches()
        )
        if submission.status == "INVALID":
            issues = "; ".join(submission.issues) or "no issue given"
            raise PermanentError(f"Amazon refused the listing update of {document.sku}: {issues}")
        return submission.submission_id


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


# -- shipments -------------------------------------------------------------------------------------


def package_reference(tracking_number: str) -> str:
    """A positive number (what Amazon accepts) derived from the tracking number: the same package
    always gets the same reference, so a resent confirmation cannot add a second package."""
    digest = hashlib.sha256(tracking_number.strip().encode()).hexdigest()
    return str(int(digest[:12], 16) % 10**9 + 1)


def shipment_key(order_id: str, tracking_number: str) -> str:
    return f"SHIP-{order_id}-{tracking_number.strip()}"


@dataclass(frozen=True, slots=True)
class ShipmentDocument:
    key: str
    confirmation: ShipmentConfirmation
    kind: str = SHIPMENT_CONFIRMATION

    @classmethod
    def of(cls, confirmation: ShipmentConfirmation) -> ShipmentDocument:
        return cls(shipment_key(confirmation.amazon_order_id, confirmation.tracking_number), confirmation)

    @property
    def package_reference_id(self) -> str:
        return package_reference(self.confirmation.tracking_number)

    def snapshot(self) -> dict[str, Any]:
        c = self.confirmation
        return {
            "amazon_order_id": c.amazon_order_id,
            "marketplace_id": c.marketplace_id,
            "carrier": c.carrier,
            "tracking_number": c.tracking_number,
            "ship_date": c.ship_date.isoformat(),
            "items": [list(item) for item in c.items],
            "shipping_method": c.shipping_method,
        }


class ShipmentConfirmationTarget:
    """confirmShipment once per package; found when Amazon already has the order as Shipped
    (confirmed by an earlier run or by hand in Seller Central)."""

    def __init__(self, amazon: SpApiClient) -> None:
        self._amazon = amazon

    def find(self, document: ShipmentDocument) -> str | None:
        order = self._amazon.get_order(document.confirmation.amazon_order_id)
        if order.status == "Shipped":
            return document.package_reference_id
        if order.status in ("Canceled", "Unfulfillable"):
            raise PermanentError(
                f"order {order.amazon_order_id} is {order.status} on Amazon; it cannot be confirmed as shipped"
            )
        return None

    def find_all(self, document: ShipmentDocument) -> list[str]:
        """One package reference per tracking number: Amazon cannot hold the package twice."""
        found = self.find(document)
        return [] if found is None else [found]

    def post(self, document: ShipmentDocument) -> str:
        reference = document.package_reference_id
        self._amazon.confirm_shipment(document.confirmation, package_reference_id=reference)
        return reference
