"""ION API OAuth token for the service account (resource-owner password grant).

A token is fetched on first use, renewed a margin before ``expires_in`` runs out (and at once when
the gateway answers 401), and revoked on close. Infor allows a fresh password grant at any time, so
renewing is simply a new grant; refresh tokens are not needed.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from typing import Literal

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import AuthenticationError, ConfigurationError, PermanentError
from ml_connector.targets.m3.ionapi import IonApiFile
from ml_connector.transport.client import ApiClient
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IonToken:
    access_token: str
    expires_at: float  # clock.monotonic() seconds
    lifetime: float


class IonTokenClient:
    """Thread-safe holder of one tenant's access token."""

    def __init__(
        self,
        ionapi: IonApiFile,
        http: httpx.Client | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        renew_margin: float = 300.0,
        client_auth: Literal["form", "basic"] = "form",
    ) -> None:
        self._ionapi = ionapi
        self._clock = clock
        self._api = ApiClient(
            "ION",
            retry=retry or RetryPolicy(clock=clock),
            timeout=httpx.Timeout(60.0, connect=10.0),
            http=http,
        )
        self._renew_margin = renew_margin
        self._client_auth = client_auth
        self._token: IonToken | None = None
        self._lock = threading.Lock()
        self.grants = 0  # how many tokens were obtained (tests, diagnostics)

    def token(self) -> str:
        """A token valid for at least the renew margin (or a tenth of its lifetime, if shorter)."""
        with self._lock:
            current = self._token
            if current is None or self._needs_renewal(current):
                current = self._token = self._grant()
            return current.access_token

    def renew(self, rejected: str | None = None) -> str:
        """Replace the token the gateway rejected; a token another thread already renewed is kept."""
        with self._lock:
            if self._token is None or rejected is None or self._token.access_token == rejected:
                self._token = self._grant()
            return self._token.access_token

    def revoke(self) -> None:
        """Revoke the current token (best effort: a failed revocation only expires naturally)."""
        with self._lock:
            current, self._token = self._token, None
        if current is None:
            return
        try:
            response = self._api.http_for(self._ionapi.revoke_url).post(
                self._ionapi.revoke_url,
                data={"token": current.access_token, "token_type_hint": "access_token"},
                auth=(self._ionapi.client_id, self._ionapi.client_secret),
            )
            if response.status_code >= 400:
                log.warning("ION token revocation answered HTTP %s", response.status_code)
        except httpx.HTTPError as exc:
            log.warning("ION token revocation failed: %s", type(exc).__name__)

    def _needs_renewal(self, token: IonToken) -> bool:
        margin = min(self._renew_margin, token.lifetime / 10)
        return self._clock.monotonic() >= token.expires_at - margin

    def _grant(self) -> IonToken:
        ionapi = self._ionapi
        form = {
            "grant_type": "password",
            "username": ionapi.service_account_key,
            "password": ionapi.service_account_secret,
        }
        headers: dict[str, str] = {}
        if self._client_auth == "basic":
            headers["Authorization"] = basic_authorization(ionapi.client_id, ionapi.client_secret)
        else:
            form.update(client_id=ionapi.client_id, client_secret=ionapi.client_secret)

        started = self._clock.monotonic()
        response = self._api.send(
            "POST",
            ionapi.token_url,
            label="token",
            write=False,  # a second grant only adds a token
            data=form,
            headers=headers,
            auth=httpx.Auth(),
            describe="ION token request",
        )
        if response.status_code == 404:
            raise ConfigurationError(
                f"the ION token endpoint was not found (HTTP 404 at the 'pu' + 'ot' URL of tenant {ionapi.tenant}):"
                " download the .ionapi file again"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "access_token" not in body:
            raise _refusal(response.status_code, body, ionapi.tenant)
        lifetime = float(body.get("expires_in") or 3600)
        self.grants += 1
        return IonToken(str(body["access_token"]), started + lifetime, lifetime)


def basic_authorization(user: str, password: str) -> str:
    """HTTP Basic header value (RFC 7617), for the client-authentication variant Infor also accepts."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _refusal(status: int, body: dict, tenant: str) -> Exception:
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    said = f"{error}: {description}".strip(": ") or f"HTTP {status}"
    if error == "invalid_client" or status == 401:
        return AuthenticationError(
            f"ION refused the client id/secret of tenant {tenant} ({said}): the authorized app may have been"
            " deleted or its secret regenerated; download its .ionapi file again"
        )
    if error == "invalid_grant":
        return AuthenticationError(
            f"ION refused the service account of tenant {tenant} ({said}): the service account keys (saak/sask)"
            " are wrong, revoked or belong to another app; download the credentials again with"
            " 'Create Service Account' ticked"
        )
    return PermanentError(f"ION token request failed for tenant {tenant} ({said})", target_message=said)
