"""The SP-API call: bucket, token, retry, error mapping and call counting, for every operation.

Every operation goes through ``SpApiTransport.call``: it waits on the operation's bucket before
each attempt (so retries are paced too), sends with the shared retry policy, adapts the bucket to
429s and to ``x-amzn-RateLimit-Limit``, answers one 403 Unauthorized with one token renewal, and
turns other 4xx into PermanentError carrying Amazon's own message. 4xx are never retried.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from ml_connector.errors import AuthenticationError, PermanentError
from ml_connector.sources.amazon.auth import LwaAuth
from ml_connector.sources.amazon.limits import RateLimiter
from ml_connector.sources.amazon.operations import note_call
from ml_connector.transport.clock import Clock
from ml_connector.transport.retry import RetryPolicy, is_transient, send_with_retry

USER_AGENT = "ml-connector/0.1 (Language=Python)"

TokenSource = Callable[[], str]


class SpApiTransport:
    def __init__(
        self,
        *,
        base_url: str,
        auth: LwaAuth,
        http: httpx.Client,
        clock: Clock,
        retry: RetryPolicy,
        limiter: RateLimiter | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.http = http
        self.clock = clock
        self.retry = retry
        self.limiter = limiter or RateLimiter(clock=clock)
        self.calls: Counter[str] = Counter()  # attempts sent, per operation
        self.throttled: Counter[str] = Counter()  # 429 answers, per operation
        self.failures: Counter[str] = Counter()  # 5xx and dropped connections, per operation

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        token: TokenSource | None = None,
    ) -> httpx.Response:
        """Send one SP-API operation and return its 2xx response (else raise)."""
        note_call(operation)  # an operation Amazon is removing says so, once per process
        bucket = self.limiter.bucket(operation)
        token_source = token or self.auth.access_token
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        content = encode_json(body) if body is not None else None

        def build() -> httpx.Request:
            bucket.acquire()
            self.calls[operation] += 1
            headers = {"x-amz-access-token": token_source(), "user-agent": USER_AGENT}
            if content is not None:
                headers["content-type"] = "application/json"
            return self.http.build_request(
                method, self.base_url + path, params=query, content=content, headers=headers
            )

        def transient(response: httpx.Response) -> bool:
            if response.status_code == 429:
                self.throttled[operation] += 1
                bucket.throttled()
            elif response.status_code >= 500:
                self.failures[operation] += 1
            return is_transient(response)

        def before_retry(attempt: int, response: httpx.Response | None, error: BaseException | None) -> None:
            if error is not None:
                self.failures[operation] += 1

        for renewal in (False, True):
            response = send_with_retry(
                self.http,
                build,
                self.retry,
                transient=transient,
                before_retry=before_retry,
                describe=f"SP-API {operation}",
            )
            limit = response.headers.get("x-amzn-RateLimit-Limit")
            if limit:
                with contextlib.suppress(ValueError):
                    bucket.observe_limit(float(limit))
            if response.is_success:
                bucket.succeeded()
                return response
            if response.status_code == 403 and not renewal:
                # one renewal, one retry: of the LWA token, or of the RDT the call used
                invalidate = getattr(token, "invalidate", None) if token is not None else self.auth.invalidate
                if invalidate is not None:
                    invalidate()
                    continue
            break
        raise _error(operation, response)


def encode_json(body: Any) -> bytes:
    """JSON for a request body. A Decimal becomes a JSON number (Amazon wants numbers, e.g.
    ``value_with_tax``), written through float only when that is exact (at most 15 significant
    digits, so the shortest float repr is the same decimal text)."""

    def number(value: Any) -> Any:
        if isinstance(value, Decimal):
            if len(value.normalize().as_tuple().digits) > 15:
                raise ValueError(f"{value} has too many digits to send as a JSON number")
            return float(value)
        if isinstance(value, dict):
            return {k: number(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [number(v) for v in value]
        return value

    return json.dumps(number(body), default=str).encode()


def _param(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def parse_json(response: httpx.Response) -> Any:
    """JSON with every number as Decimal (Finances sends amounts as JSON numbers)."""
    if not response.content:
        return {}
    return json.loads(response.content, parse_float=Decimal)


def amazon_errors(response: httpx.Response) -> str:
    """Amazon's own error text (codes and messages), safe to keep in the audit trail."""
    try:
        body = parse_json(response)
    except ValueError:
        return response.text[:300]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(
            f"{e.get('code', '')}: {e.get('message', '')}{' (' + e['details'] + ')' if e.get('details') else ''}"
            for e in errors
            if isinstance(e, dict)
        )
    return response.text[:300]


def _error(operation: str, response: httpx.Response) -> Exception:
    text = amazon_errors(response)
    request_id = response.headers.get("x-amzn-RequestId", "")
    where = f"SP-API {operation} answered HTTP {response.status_code}"
    if request_id:
        where += f" (request id {request_id})"
    if response.status_code == 403:
        return AuthenticationError(
            f"{where}: {text}. The token was renewed once and still refused: check that the seller "
            "authorised the app and that it holds the role this operation needs."
        )
    return PermanentError(f"{where}: {text}", target_message=text)
