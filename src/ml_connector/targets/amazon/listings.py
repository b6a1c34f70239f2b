"""Listing updates as an Amazon-side posting target: the ERP's price and quantity for one SKU, sent
with patchListingsItem through the same posting protocol as every ERP write (claim, query first,
post, record), so each has a deterministic key, an audit trail and a replay. "Query first" asks
whether the listing already carries the price and quantity; a patch is a replacement (sending it
twice leaves the same listing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml_connector.errors import PermanentError
from ml_connector.model.money import Money
from ml_connector.sources.amazon import SpApiClient
from ml_connector.sources.amazon.api.listings import price_patch, quantity_patch
from ml_connector.sources.amazon.resources import ListingState

LISTING_UPDATE = "listing_update"
ALREADY_SHOWN = "already-shown"


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
