"""Signing in to Acumatica: OAuth 2.0 (password grant, rotating refresh token) or a cookie session.

Every session occupies one of the licence's API seats until it is signed out (or expires, ten
minutes idle for cookies, about an hour for a token chain), so ``sign_out`` is idempotent and the
client guarantees it in ``close()``. A refused sign-in that mentions "API Login Limit" is transient
whatever its status code: it is retried with backoff, never reported as bad credentials.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Protocol

import httpx

from ml_connector.errors import AuthenticationError, TransientError
from ml_connector.targets.acumatica.errors import is_login_limit, target_message
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
from ml_connector.targets.acumatica.values import loads
from ml_connector.transport.clock import Clock
from ml_connector.transport.retry import RetryPolicy, is_transient, send_with_retry


def _auth_transient(response: httpx.Response) -> bool:
    return is_login_limit(response) or is_transient(response)


class Session(Protocol):
    calls: int

    def apply(self, request: httpx.Request) -> None: ...

    def invalidate(self) -> None: ...

    def sign_out(self) -> None: ...

    @property
    def signed_in(self) -> bool: ...


class OAuthSession:
    """Bearer tokens from {site}/identity/connect/token, renewed before expiry.

    The refresh token rotates: each refresh returns a new one and the old one is dead, so it is
    replaced under a lock. When the chain is refused (expired after 30 days, revoked) the session
    falls back to a fresh password grant.
    """

    def __init__(
        self,
        http: httpx.Client,
        settings: AcumaticaSettings,
        credentials: AcumaticaCredentials,
        *,
        clock: Clock,
        retry: RetryPolicy,
    ) -> None:
        if not credentials.client_id or not credentials.client_secret:
            raise AuthenticationError(
                "Acumatica OAuth needs a client id (GUID@Tenant) and secret from SM303010"
            )
        self._http = http
        self._settings = settings
        self._credentials = credentials
        self._clock = clock
        self._retry = retry
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0
        self.calls = 0

    @property
    def signed_in(self) -> bool:
        return self._access is not None

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token()}"

    def invalidate(self) -> None:
        """The server said 401: renew before the next request."""
        with self._lock:
            self._expires_at = 0.0

    def _token(self) -> str:
        with self._lock:
            if (
                self._access
                and self._clock.monotonic() < self._expires_at - self._settings.renew_margin_seconds
            ):
                return self._access
            if self._refresh:
                try:
                    self._grant({"grant_type": "refresh_token", "refresh_token": self._refresh})
                    return self._access  # type: ignore[return-value]
                except AuthenticationError:
                    self._refresh = None  # the chain is dead: free its seat, then sign in again
                    self._logout(self._access)
                    self._access = None
            self._grant(
                {
                    "grant_type": "password",
                    "username": self._credentials.username,
                    "password": self._credentials.password,
                    "scope": self._settings.oauth_scope,
                }
            )
            return self._access  # type: ignore[return-value]

    def _grant(self, form: dict[str, str]) -> None:
        form = {
            **form,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
        }
        url = f"{self._settings.url}/identity/connect/token"

        def build() -> httpx.Request:
            self.calls += 1
            return self._http.build_request("POST", url, data=form, headers={"Accept": "application/json"})

        response = _send_sign_in(self._http, build, self._retry, "Acumatica token")
        if response.status_code != 200:
            raise AuthenticationError(
                f"Acumatica refused the {form['grant_type']} grant ({response.status_code}: {_oauth_error(response)}); "
                "check the client id (GUID@Tenant), secret, user and password"
            )
        data = loads(response.content)
        self._access = data["access_token"]
        self._refresh = data.get("refresh_token") or self._refresh
        self._expires_at = self._clock.monotonic() + float(data.get("expires_in", 3600))

    def sign_out(self) -> None:
        """Free the licence seat (POST /entity/auth/logout with the bearer) and forget the tokens."""
        with self._lock:
            access, self._access, self._refresh, self._expires_at = self._access, None, None, 0.0
        self._logout(access)

    def _logout(self, access: str | None) -> None:
        if access is None:
            return
        self.calls += _send_sign_out(
            self._http, self._settings, self._retry, {"Authorization": f"Bearer {access}"}
        )


class CookieSession:
    """POST /entity/auth/login (204 + cookies), POST /entity/auth/logout. Cookies live in the
    client's jar; a 401 (ten minutes idle) signs in again."""

    def __init__(
        self,
        http: httpx.Client,
        settings: AcumaticaSettings,
        credentials: AcumaticaCredentials,
        *,
        clock: Clock,
        retry: RetryPolicy,
    ) -> None:
        self._http = http
        self._settings = settings
        self._credentials = credentials
        self._retry = retry
        self._lock = threading.Lock()
        self._active = False
        self.calls = 0

    @property
    def signed_in(self) -> bool:
        return self._active

    def apply(self, request: httpx.Request) -> None:
        with self._lock:
            if not self._active:
                self._login()
        # build_request ran before login set the cookies: copy them onto this request.
        request.headers.pop("Cookie", None)
        self._http.cookies.set_cookie_header(request)

    def invalidate(self) -> None:
        with self._lock:
            self._active = False

    def _login(self) -> None:
        body = {
            "name": self._credentials.username,
            "password": self._credentials.password,
            "tenant": self._settings.tenant,
            "branch": self._settings.branch,
        }
        url = f"{self._settings.url}/entity/auth/login"

        def build() -> httpx.Request:
            self.calls += 1
            return self._http.build_request("POST", url, json=body)

        response = _send_sign_in(self._http, build, self._retry, "Acumatica sign-in")
        if response.status_code != 204 and response.status_code != 200:
            raise AuthenticationError(
                f"Acumatica refused the sign-in ({response.status_code}: {target_message(response)}); "
                "check user, password and tenant"
            )
        self._active = True

    def sign_out(self) -> None:
        with self._lock:
            was_active, self._active = self._active, False
        if not was_active:
            return
        # build_request adds the jar's session cookies to the sign-out request
        self.calls += _send_sign_out(self._http, self._settings, self._retry, {})
        self._http.cookies.clear()


def _send_sign_out(
    http: httpx.Client, settings: AcumaticaSettings, retry: RetryPolicy, headers: dict[str, str]
) -> int:
    """POST /entity/auth/logout, retried like any call (a lost sign-out keeps a seat taken until it
    expires); returns the number of attempts. Never raises: sign-out runs in cleanup paths."""
    attempts = 0
    url = f"{settings.url}/entity/auth/logout"

    def build() -> httpx.Request:
        nonlocal attempts
        attempts += 1
        return http.build_request("POST", url, headers={**headers, "Content-Length": "0"})

    with contextlib.suppress(TransientError, httpx.HTTPError):
        send_with_retry(http, build, retry, describe="Acumatica sign-out")
    return attempts


def _send_sign_in(http: httpx.Client, build, retry: RetryPolicy, describe: str) -> httpx.Response:
    """Sign-in through the shared retry policy; when the licence keeps refusing, say so."""
    refused_by_limit = False

    def note(attempt: int, response: httpx.Response | None, error: BaseException | None) -> None:
        nonlocal refused_by_limit
        refused_by_limit = response is not None and is_login_limit(response)

    try:
        return send_with_retry(
            http, build, retry, transient=_auth_transient, before_retry=note, describe=describe
        )
    except TransientError as exc:
        if refused_by_limit:
            raise TransientError(
                f"{describe}: Acumatica API Login Limit reached (all API user seats are taken); "
                "sign out other integrations' sessions or raise the licence limit"
            ) from exc
        raise


def _oauth_error(response: httpx.Response) -> str:
    try:
        data = loads(response.content)
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and "error" in data:
        return str(data.get("error_description") or data["error"])
    return target_message(response)


def open_session(
    http: httpx.Client,
    settings: AcumaticaSettings,
    credentials: AcumaticaCredentials,
    *,
    clock: Clock,
    retry: RetryPolicy,
) -> Session:
    kind = OAuthSession if settings.auth == "oauth" else CookieSession
    return kind(http, settings, credentials, clock=clock, retry=retry)


__all__ = ["CookieSession", "OAuthSession", "Session", "TransientError", "open_session"]
