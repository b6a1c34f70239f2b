"""The one HTTP client: ``ApiClient`` = the host's pooled ``httpx.Client`` + the system's ``httpx.Auth``
+ ONE response policy + the limiter + hooks for the call counters. SP-API (``SpApiTransport``), the
ION gateway (``MiClient``) and Acumatica (``AcumaticaClient``) are thin users of it.

The response policy is one table (``POLICY``): each answer or failure is put in a class
(``classify``; a system may name classes its status codes hide, e.g. Acumatica's login limit or its
500 that carries a refusal), and the class says what happens to a read and to a write:

==========================  =====================  ===================================================
failure class               read                   write (may not run twice)
==========================  =====================  ===================================================
ok (2xx, 3xx)               done                   done
unauthorized (401, 403)     renew                  renew: refused before it ran, safe to resend
throttled (429)             retry                  retry: refused before it ran
refused (login limit...)    retry                  retry: refused before it ran
server error (500, 502-4)   retry                  may have run
server refusal (500+body)   fatal                  fatal
not connected               retry                  retry: connect failed, connect or pool timeout
after send                  retry                  may have run: read/write timeout, reset, dropped
other answer (4xx, 501...)  fatal                  fatal
==========================  =====================  ===================================================

* done and fatal hand the response back: the caller turns a fatal one into its system's words.
* retry backs off (``RetryPolicy``: full jitter, Retry-After honoured) and sends again; when the
  attempts run out, ``TransientError`` (the record stays pending).
* renew: the system's ``httpx.Auth`` renews its credential and resends once inside the same
  attempt (``transport.auth``); a second refusal is handed back like fatal.
* may have run: ``TransientError`` at once, never a resend, so the posting protocol asks ``find``
  before it posts again (an M3 Add or an Acumatica insert sent twice makes two records).

Every request that leaves (attempts and renewals) first passes the limiter, the call counters and
the write fence (``engine.fence``: inside a post the claim is verified right before the bytes go),
and a stop request is honoured between attempts (``transport.stop``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import httpx

from ml_connector.engine import fence
from ml_connector.errors import TransientError
from ml_connector.transport import pool, stop
from ml_connector.transport.auth import HookedAuth
from ml_connector.transport.retry import RetryPolicy, retry_after_seconds, unreachable_words
from ml_connector.transport.waits import announce

log = logging.getLogger(__name__)


class Action(Enum):
    DONE = "done"
    RETRY = "retry"
    RENEW = "renew"
    FATAL = "fatal"
    MAY_HAVE_RUN = "may have run"


class Failure(Enum):
    OK = "ok"
    UNAUTHORIZED = "unauthorized"
    THROTTLED = "throttled"
    REFUSED = "refused"
    SERVER_ERROR = "server error"
    SERVER_REFUSAL = "server refusal"
    NOT_CONNECTED = "not connected"
    AFTER_SEND = "after send"
    OTHER = "other answer"


@dataclass(frozen=True)
class Rule:
    read: Action
    write: Action

    def action(self, write: bool) -> Action:
        return self.write if write else self.read


POLICY: Mapping[Failure, Rule] = {
    Failure.OK: Rule(Action.DONE, Action.DONE),
    Failure.UNAUTHORIZED: Rule(Action.RENEW, Action.RENEW),
    Failure.THROTTLED: Rule(Action.RETRY, Action.RETRY),
    Failure.REFUSED: Rule(Action.RETRY, Action.RETRY),
    Failure.SERVER_ERROR: Rule(Action.RETRY, Action.MAY_HAVE_RUN),
    Failure.SERVER_REFUSAL: Rule(Action.FATAL, Action.FATAL),
    Failure.NOT_CONNECTED: Rule(Action.RETRY, Action.RETRY),
    Failure.AFTER_SEND: Rule(Action.RETRY, Action.MAY_HAVE_RUN),
    Failure.OTHER: Rule(Action.FATAL, Action.FATAL),
}

SERVER_ERRORS = frozenset({500, 502, 503, 504})
NEVER_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# A system's own reading of an answer its status code hides; None: the status decides.
Classifier = Callable[[httpx.Response], Failure | None]


def classify(response: httpx.Response, special: Classifier | None = None) -> Failure:
    if special is not None:
        named = special(response)
        if named is not None:
            return named
    status = response.status_code
    if status < 400:
        return Failure.OK
    if status in (401, 403):
        return Failure.UNAUTHORIZED
    if status == 429:
        return Failure.THROTTLED
    if status in SERVER_ERRORS:
        return Failure.SERVER_ERROR
    return Failure.OTHER


def classify_error(error: BaseException) -> Failure:
    """A transport failure: a connection never made cannot have run anything; anything later can."""
    return Failure.NOT_CONNECTED if isinstance(error, NEVER_SENT) else Failure.AFTER_SEND


def action_for(failure: Failure, *, write: bool) -> Action:
    return POLICY[failure].action(write)


class Limiter(Protocol):
    def acquire(self) -> float: ...


RequestHook = Callable[[str, httpx.Request], None]  # (label, request): every request that leaves
ResponseHook = Callable[[str, httpx.Response], None]  # (label, response): every answer received
RetryHook = Callable[[str, httpx.Response | None, BaseException | None], None]  # before a retry's wait


class ApiClient:
    """One system's client. ``send`` is the only way its requests leave.

    ``http`` pins one ``httpx.Client`` (tests); otherwise each URL's host client comes from
    ``transport.pool``. ``auth`` is the system's ``RenewingAuth``; ``timeout`` is applied per
    request. The counters (``sent``, ``throttled``, ``failed``, ``retried``, by label) are event
    hooks like any other, registered first.
    """

    def __init__(
        self,
        name: str,
        *,
        retry: RetryPolicy,
        auth: httpx.Auth | None = None,
        timeout: httpx.Timeout | float = pool.DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
        classifier: Classifier | None = None,
    ) -> None:
        self.name = name
        self.retry = retry
        self.auth = auth
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = http
        self.classifier = classifier
        self.sent: Counter[str] = Counter()  # every request that left, renewals included
        self.throttled: Counter[str] = Counter()  # 429 answers
        self.failed: Counter[str] = Counter()  # 5xx answers and transport failures
        self.retried: Counter[str] = Counter()  # attempts after the first, from the policy
        self.on_request: list[RequestHook] = [self._count_request]
        self.on_response: list[ResponseHook] = [self._count_response]
        self.on_retry: list[RetryHook] = [self._count_retry]

    def http_for(self, url: str | httpx.URL) -> httpx.Client:
        return self._http if self._http is not None else pool.client_for(url)

    # -- the counters, as hooks ---------------------------------------------------------------

    def _count_request(self, label: str, request: httpx.Request) -> None:
        self.sent[label] += 1

    def _count_response(self, label: str, response: httpx.Response) -> None:
        if response.status_code == 429:
            self.throttled[label] += 1
        elif response.status_code >= 500:
            self.failed[label] += 1

    def _count_retry(self, label: str, response: httpx.Response | None, error: BaseException | None) -> None:
        self.retried[label] += 1
        if error is not None:
            self.failed[label] += 1

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        label: str,
        write: bool | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        limiter: Limiter | None = None,
        describe: str | None = None,
    ) -> httpx.Response:
        """Send under the policy; return the final response (done or fatal), else TransientError.

        ``write`` says whether a second copy of this request could do the work twice; by default
        every method but GET and HEAD is a write (MI writes are GETs: M3 says so itself). ``auth``
        overrides the client's (a Restricted Data Token), ``limiter`` paces every request sent."""
        is_write = write if write is not None else method.upper() not in ("GET", "HEAD")
        describe = describe or f"{self.name} {label}"
        http = self.http_for(url)
        hooked = HookedAuth(
            auth if auth is not None else self.auth,
            before_send=lambda request: self._before_send(label, request),
            before_apply=(limiter.acquire if limiter is not None else _nothing),
        )
        attempts = self.retry.attempts
        problem = "no attempt made"
        for attempt in range(attempts):
            stop.checkpoint()  # a stop request is honoured between requests, never inside one
            request = http.build_request(
                method,
                url,
                params=params,
                content=content,
                json=json,
                data=data,
                headers=headers,
                timeout=self.timeout,
            )
            response: httpx.Response | None = None
            error: BaseException | None = None
            try:
                response = http.send(request, auth=hooked)
            except httpx.TransportError as exc:
                error = exc
                failure = classify_error(exc)
                problem = unreachable_words(exc, request)
            else:
                for hook in self.on_response:
                    hook(label, response)
                failure = classify(response, self.classifier)
                problem = f"HTTP {response.status_code}"
            action = action_for(failure, write=is_write)
            if action in (Action.DONE, Action.FATAL, Action.RENEW):
                assert response is not None  # only answers are done, fatal or (still) refused
                return response
            if action is Action.MAY_HAVE_RUN:
                raise TransientError(
                    f"{describe}: {problem}; a write is not resent blindly (it may have run): "
                    "the posting protocol asks the system whether it exists first"
                )
            if response is not None:
                response.read()
            if attempt + 1 >= attempts:
                break
            for retry_hook in self.on_retry:
                retry_hook(label, response, error)
            wait = self.retry.backoff(
                attempt, retry_after_seconds(response) if response is not None else None
            )
            log.info("%s: %s, retry %d in %.2fs", describe, problem, attempt + 1, wait)
            announce(f"{describe}: {problem}; retry {attempt + 1} of {attempts - 1}", wait)
            self.retry.clock.sleep(wait)
        raise TransientError(f"{describe} still failing after {attempts} attempts ({problem})")

    def _before_send(self, label: str, request: httpx.Request) -> None:
        for hook in self.on_request:
            hook(label, request)
        fence.before_send()  # inside a post: the claim verified right before the bytes leave


def _nothing() -> float:
    return 0.0
