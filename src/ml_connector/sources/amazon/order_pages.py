"""Where an order search stands, so a long first sync can stop anywhere and go on where it was.

A search is a window (``after`` .. ``before``, on lastUpdated) read page by page; Amazon hands out a
token for the next page, valid 24 hours and only with the same window and filters. A position is
that window plus the token (none: the window's start). Both SP-API order searches (2026-01-01
paginationToken, v0 NextToken) page the same way, so one position type serves both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ml_connector.model import Order

TOKEN_LIFETIME = timedelta(hours=24)  # Amazon: "The token will expire after 24 hours."
TOKEN_MARGIN = timedelta(hours=1)  # a token this close to expiry is not worth a refused call


@dataclass(frozen=True, slots=True)
class OrderPosition:
    """A page of a search: the window, and the token that reads the page (None: the first page)."""

    after: datetime
    before: datetime
    token: str | None = None
    issued: datetime | None = None  # when Amazon gave the token (it lives 24 h)

    def usable_token(self, now: datetime) -> str | None:
        """The token, unless it has (nearly) expired: then the window is read again from its start."""
        if self.token is None or self.issued is None:
            return self.token
        return self.token if now - self.issued < TOKEN_LIFETIME - TOKEN_MARGIN else None

    def to_json(self) -> str:
        return json.dumps(
            {
                "after": self.after.isoformat(),
                "before": self.before.isoformat(),
                "token": self.token,
                "issued": self.issued.isoformat() if self.issued else None,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> OrderPosition:
        data = json.loads(text)
        issued = data.get("issued")
        return cls(
            after=datetime.fromisoformat(data["after"]),
            before=datetime.fromisoformat(data["before"]),
            token=data.get("token"),
            issued=datetime.fromisoformat(issued) if issued else None,
        )


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of orders and what to keep after it: ``next`` is where the search goes on (None
    after the last page); ``watermark`` is the echoed lastUpdatedBefore, the next search's start
    once the whole window has been read."""

    orders: list[Order] = field(repr=False)
    position: OrderPosition
    next: OrderPosition | None
    watermark: datetime

    @property
    def last(self) -> bool:
        return self.next is None

    def cursor(self) -> str:
        """What a flow stores after handling this page: the next page's position, or, after the
        last page, the watermark (a plain timestamp: a finished window)."""
        return self.next.to_json() if self.next is not None else self.watermark.isoformat()


def each_order(pages: Iterable[OrderPage]) -> Iterator[Order]:
    """The orders of a search, page after page (for callers that keep no position)."""
    for page in pages:
        yield from page.orders
