"""The one paginator: every paged SP-API operation follows its next-page token through ``follow``.

Amazon's families spell the token differently (``NextToken``, ``nextToken``,
``pagination.nextToken`` sent back as ``paginationToken`` or ``pageToken``), but all page the same
way: a page names the next one until the last. A service that hands back a token already followed
would make a hand-written loop call forever; ``follow`` stops with ``PagingLoopError`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ml_connector.errors import TransientError

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

P = TypeVar("P")


class PagingLoopError(TransientError):
    """Amazon handed back a page token that was already followed: the pages would never end."""


def follow(
    operation: str,
    fetch: Callable[[str | None], P],
    next_token: Callable[[P], str | None],
    *,
    start: str | None = None,
) -> Iterator[P]:
    """Each page, lazily: ``fetch(start)``, then ``fetch(token)`` for the token each page names,
    until a page names none. A caller that stops early costs no further call. A token seen before
    (``start`` included) raises ``PagingLoopError`` before it is sent again."""
    seen = {start} if start else set()
    token = start
    pages = 0
    while True:
        page = fetch(token)
        pages += 1
        yield page
        token = next_token(page)
        if not token:
            return
        if token in seen:
            raise PagingLoopError(
                f"SP-API {operation} named a next page it had already given after {pages} page(s): its "
                "paging loops, so reading stopped there; the next run reads again (if it repeats, "
                "report it to Amazon with the request ids in the log)"
            )
        seen.add(token)


def get_pages(
    client: SpApiClient,
    operation: str,
    path: str,
    params: dict[str, Any],
    *,
    send_as: str,
    next_token: Callable[[Any], str | None],
    alone: bool = False,
    token: Any = None,
) -> Iterator[Any]:
    """Every page of a GET operation: the token goes back as the ``send_as`` parameter, with the
    first page's other parameters unless ``alone`` (getReports takes the token only). ``token``:
    a Restricted Data Token's auth for PII calls."""
    from ml_connector.sources.amazon.api.common import get_json

    def fetch(page_token: str | None) -> Any:
        if page_token is None:
            sent = params
        else:
            sent = {send_as: page_token} if alone else {**params, send_as: page_token}
        return get_json(client, operation, path, sent, token=token)

    return follow(operation, fetch, next_token)


def payload_token(name: str) -> Callable[[Any], str | None]:
    """The token under ``payload`` (Orders v0, Finances v0 and 2024: ``NextToken`` / ``nextToken``)."""
    return lambda page: (page.get("payload") or {}).get(name)


def pagination_token(page: Any) -> str | None:
    """The token under ``pagination`` (Orders 2026-01-01, Listings 2021-08-01)."""
    return (page.get("pagination") or {}).get("nextToken")
