"""The SP-API call: bucket, token, error mapping and call counting, for every operation.

Every operation goes through ``SpApiTransport.call``, a thin user of the one HTTP client
(``transport.client.ApiClient``): the client's policy retries 429, 5xx and dropped connections of
reads, never resends a write that may have run, and its ``LwaTokenAuth`` answers one 403
Unauthorized with one token renewal. Here: the operation's bucket paces every request sent
(retries too) and adapts to 429s and to ``x-amzn-RateLimit-Limit``; other 4xx become
PermanentError carrying Amazon's own message.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from ml_connector.clock import Clock
from ml_connector.errors import AuthenticationError, PermanentError
from ml_connector.sources.amazon.auth import LwaAuth
from ml_connector.sources.amazon.limits import RateLimiter
from ml_connector.sources.amazon.operations import note_call
from ml_connector.transport.auth import LwaTokenAuth
from ml_connector.transport.client import ApiClient
from ml_connector.transport.retry import RetryPolicy

USER_AGENT = "ml-connector/0.1 (Language=Python)"

# POST/PATCH operations that do no harm sent twice, so a 5xx or a lost reply is retried like a read:
# a token, a report request or an upload URL create nothing the seller sees; a listings patch
# replaces a value; a shipment confirmation carries a deterministic packageReferenceId.
RESENDABLE = frozenset(
    {
        "createRestrictedDataToken",
        "createReport",
        "createFeedDocument",
        "patchListingsItem",
        "confirmShipment",
    }
)


class SpApiTransport:
    def __init__(
        self,
        *,
        base_url: str,
        auth: LwaAuth,
        http: httpx.Client | None,
        clock: Clock,
        retry: RetryPolicy,
        limiter: RateLimiter | None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.clock = clock
        self.retry = retry
        self.limiter = limiter or RateLimiter(clock=clock)
        self.api = ApiClient(
            "SP-API",
            retry=retry,
            auth=LwaTokenAuth(auth.access_token, auth.invalidate),
            timeout=timeout,
            http=http,
        )
        self.api.on_response.append(self._adapt)
        self.calls: Counter[str] = self.api.sent  # attempts sent, per operation
        self.throttled: Counter[str] = self.api.throttled  # 429 answers, per operation
        self.failures: Counter[str] = self.api.failed  # 5xx and dropped connections, per operation

    def _adapt(self, operation: str, response: httpx.Response) -> None:
        bucket = self.limiter.bucket(operation)
        if response.status_code == 429:
            bucket.throttled()
        limit = response.headers.get("x-amzn-RateLimit-Limit")
        if limit:
            with contextlib.suppress(ValueError):
                bucket.observe_limit(float(limit))
        if response.is_success:
            bucket.succeeded()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        token: httpx.Auth | None = None,
    ) -> httpx.Response:
        """Send one SP-API operation and return its 2xx response (else raise). ``token``: the
        Restricted Data Token's auth for a PII call (renewed once on 403 like the LWA token)."""
        note_call(operation)  # an operation Amazon is removing says so, once per process
        headers = {"user-agent": USER_AGENT}
        content = encode_json(body) if body is not None else None
        if content is not None:
            headers["content-type"] = "application/json"
        response = self.api.send(
            method,
            self.base_url + path,
            label=operation,
            write=method != "GET" and operation not in RESENDABLE,
            params={k: _param(v) for k, v in (params or {}).items() if v is not None},
            content=content,
            headers=headers,
            auth=token,
            limiter=self.limiter.bucket(operation),
            describe=f"SP-API {operation}",
        )
        if response.is_success:
            return response
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
