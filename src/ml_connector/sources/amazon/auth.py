"""Login with Amazon (LWA): exchanging the seller's refresh token for one-hour access tokens.

The access token is cached and renewed 60 s before it expires (as Amazon's SDK does), so a long
run renews in the middle without a failed call. Refusals become AuthenticationErrors that say what
the operator must do; the secret and tokens never appear in a message or a repr.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import AuthenticationError
from ml_connector.transport.client import ApiClient
from ml_connector.transport.retry import RetryPolicy
from ml_connector.transport.urls import require_secure_url

RENEW_AHEAD_SECONDS = 60.0


@dataclass(frozen=True)
class LwaCredentials:
    """The app's LWA client and, for seller-authorised calls, the seller's refresh token.

    Without a refresh token the client-credentials grant is used with ``scope`` (grantless calls).
    """

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None

    def form(self) -> dict[str, str]:
        if self.refresh_token:
            return {
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        if not self.scope:
            raise AuthenticationError(
                "LWA credentials need a refresh token (seller calls) or a scope (grantless calls)"
            )
        return {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


_ADVICE = {
    "invalid_grant": (
        "Amazon refused the refresh token (invalid_grant): the seller revoked this app's authorisation "
        "or the token is wrong. Ask the seller to authorise the app again in Seller Central "
        "(Apps and Services > Manage Your Apps) and store the new refresh token."
    ),
    "invalid_client": (
        "Amazon refused the app's LWA client id or secret (invalid_client). Amazon makes developers "
        "rotate the client secret every 180 days: copy the new secret from the Developer Console "
        "and update the stored credentials."
    ),
    "unauthorized_client": "This LWA client may not use this grant (unauthorized_client); check the app's settings.",
    "invalid_scope": "The requested LWA scope is not allowed for this app (invalid_scope).",
    "access_denied": "Login with Amazon denied access (access_denied).",
}


class LwaAuth:
    """Caches the access token; ``access_token()`` is cheap and thread-safe."""

    def __init__(
        self,
        credentials: LwaCredentials,
        *,
        http: httpx.Client | None = None,
        token_url: str,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._credentials = credentials
        self._token_url = require_secure_url(token_url, "the LWA token URL")
        self._clock = clock
        self._api = ApiClient(
            "LWA", retry=retry or RetryPolicy(attempts=5, clock=clock), timeout=30.0, http=http
        )
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.renewals = 0

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock.monotonic() >= self._expires_at - RENEW_AHEAD_SECONDS:
                self._renew()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (after a 403 Unauthorized) so the next call renews it."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None

    def _renew(self) -> None:
        form = self._credentials.form()
        response = self._api.send(
            "POST",
            self._token_url,
            label="token",
            write=False,  # a second grant only replaces the first
            data=form,
            auth=httpx.Auth(),
            describe="LWA token request",
        )
        body = _json(response)
        if response.status_code != 200 or "access_token" not in body:
            code = str(body.get("error") or f"HTTP {response.status_code}")
            description = str(body.get("error_description") or "")
            advice = _ADVICE.get(code, f"Login with Amazon refused the token request ({code}).")
            raise AuthenticationError(f"{advice} Amazon said: {description}".strip())
        self._token = str(body["access_token"])
        self._expires_at = self._clock.monotonic() + float(body.get("expires_in", 3600))
        self.renewals += 1


def _json(response: httpx.Response) -> dict:
    try:
        value = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
