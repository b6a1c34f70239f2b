"""The one retry policy's waits: exponential backoff with full jitter, honouring Retry-After.

What is retried, renewed, fatal or "a write that may have run" is the one response policy of the
one HTTP client (``transport.client``: ``POLICY``, used by ``ApiClient.send``); this module says
how long to wait between attempts and how many there are.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


@dataclass
class RetryPolicy:
    """``attempts`` tries in all; the n-th wait is uniform in [0, min(cap, base * 2**n)] seconds,
    but never shorter than a Retry-After the server sent (capped at ``max_retry_after``)."""

    attempts: int = 8
    base: float = 0.5
    cap: float = 60.0
    max_retry_after: float = 60.0  # a wait never outlasts a record claim (engine.posting.claim_ttl_for)
    clock: Clock = field(default=SYSTEM_CLOCK)
    rng: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        jittered = self.rng() * min(self.cap, self.base * (2**attempt))
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_retry_after))
        return jittered


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds, whether the server sent a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def unreachable_words(exc: BaseException, request: httpx.Request) -> str:
    """A transport failure in words that name the host and the fix (never a class name)."""
    where = f"{request.url.scheme}://{request.url.host}" + (
        f":{request.url.port}" if request.url.port else ""
    )
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {where}: check the URL, the network, proxy and firewall of this machine"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where} did not answer in time"
    return f"the connection to {where} was dropped"
