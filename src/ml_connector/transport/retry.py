"""The one retry policy: exponential backoff with full jitter, honouring Retry-After.

Every client (SP-API, ION/M3, Acumatica) sends through ``send_with_retry``. What counts as transient
is the same everywhere: 429, 500, 502, 503, 504, and connection-level failures (refused, reset,
timed out). Everything else is returned to the caller, which knows what a 4xx means for its API.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from ml_connector.engine import fence
from ml_connector.errors import TransientError
from ml_connector.transport import stop
from ml_connector.transport.clock import SYSTEM_CLOCK, Clock
from ml_connector.transport.waits import announce

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TransportError,  # connect/read/write timeouts, refused and reset connections, protocol errors
)


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


def is_transient(response: httpx.Response) -> bool:
    return response.status_code in TRANSIENT_STATUS


RetryHook = Callable[[int, httpx.Response | None, BaseException | None], None]


def send_with_retry(
    client: httpx.Client,
    build_request: Callable[[], httpx.Request],
    policy: RetryPolicy,
    *,
    transient: Callable[[httpx.Response], bool] = is_transient,
    before_retry: RetryHook | None = None,
    describe: str = "request",
) -> httpx.Response:
    """Send, retrying transient failures; return the first non-transient response.

    ``build_request`` is called for every attempt so that auth headers and signed parameters are
    fresh. ``before_retry(attempt, response, error)`` lets a client react (lower a rate, renew a
    token) before the wait. When attempts run out a TransientError is raised: the caller's record
    stays pending and is retried on a later run, never dropped.

    Inside a posting (``engine.fence``) every attempt is fenced: the record's claim is renewed and
    verified right before the request is sent, so an attempt after a long stall or a long backoff
    never goes out under a claim another run has taken over (``ClaimLost`` is raised instead).
    """
    last_problem = "no attempt made"
    for attempt in range(policy.attempts):
        response: httpx.Response | None = None
        error: BaseException | None = None
        stop.checkpoint()  # a stop request is honoured between requests, never inside one
        request = build_request()
        fence.before_send()  # inside a post: the claim verified right before the bytes leave
        try:
            response = client.send(request)
        except TRANSIENT_EXCEPTIONS as exc:
            error = exc
            last_problem = unreachable_words(exc, request)
        else:
            if not transient(response):
                return response
            response.read()
            last_problem = f"HTTP {response.status_code}"
        if attempt + 1 >= policy.attempts:
            break
        if before_retry is not None:
            before_retry(attempt, response, error)
        wait = policy.backoff(attempt, retry_after_seconds(response) if response is not None else None)
        log.info("%s: %s, retry %d in %.2fs", describe, last_problem, attempt + 1, wait)
        announce(f"{describe}: {last_problem}; retry {attempt + 1} of {policy.attempts - 1}", wait)
        policy.clock.sleep(wait)
    raise TransientError(f"{describe} still failing after {policy.attempts} attempts ({last_problem})")


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
