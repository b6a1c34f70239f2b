"""Signing in to Acumatica: OAuth 2.0 (password grant, rotating refresh token) or a cookie session.

Every session occupies one of the licence's API seats until it is signed out (or expires, ten
minutes idle for cookies, about an hour for a token chain), so ``sign_out`` is idempotent and the
client guarantees it in ``close()``. A refused sign-in that mentions "API Login Limit" is transient
whatever its status code: it is retried with backoff, never reported as bad credentials.

Sign-in and sign-out go through the one HTTP client (``transport.client.ApiClient``) like every
other request; the cookies of a cookie session live here, never in the host's shared client.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Protocol

import httpx

from ml_connector.clock import Clock
from ml_connector.errors import AuthenticationError, TransientError
from ml_connector.targets.acumatica.errors import is_login_limit, target_message
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
from ml_connector.targets.acumatica.values import loads
from ml_connector.transport.client import ApiClient, Failure
from ml_connector.transport.retry import RetryPolicy

NO_AUTH = httpx.Auth()
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def login_limit(response: httpx.Response) -> Failure | None:
    """The licence's API Login Limit refused the session before anything ran: retry it."""
    return Failure.REFUSED if is_login_limit(response) else None


class SignIn:
    """The sign-in/sign-out requests of one session through the one HTTP client, counted."""

    def __init__(self, http: httpx.Client | None, retry: RetryPolicy) -> None:
        self.api = ApiClient("Acumatica", retry=retry, timeout=TIMEOUT, http=http, classifier=login_limit)
        self.refused_by_limit = False
        self.api.on_response.append(self._note)

    def _note(self, label: str, response: httpx.Response) -> None:
        self.refused_by_limit = is_login_limit(response)

    @property
    def calls(self) -> int:
        return sum(self.api.sent.values())

    def sign_in(self, url: str, describe: str, **kwargs: Any) -> httpx.Response:
        """Sign-in; when the licence keeps refusing, say so."""
        self.refused_by_limit = False
        try:
            return self.api.send(
                "POST", url, label=describe, write=False, auth=NO_AUTH, describe=describe, **kwargs
            )
        except TransientError as exc:
            if self.refused_by_limit:
                raise TransientError(
                    f"{describe}: Acumatica API Login Limit reached (all API user seats are taken); "
                    "sign out other integrations' sessions or raise the licence limit"
                ) from exc
            raise

    def sign_out(self, settings: AcumaticaSettings, headers: dict[str, str]) -> None:
        """POST /entity/auth/logout, retried like any call (a lost sign-out keeps a seat taken until it
        expires). Never raises: sign-out runs in cleanup paths."""
        with contextlib.suppress(TransientError, httpx.HTTPError):
            self.api.send(
                "POST",
                f"{settings.url}/entity/auth/logout",
                label="Acumatica sign-out",
                write=False,
                headers={**headers, "Content-Length": "0"},
                auth=NO_AUTH,
                describe="Acumatica sign-out",
            )


class Session(Protocol):
    @property
    def calls(self) -> int: ...

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
        http: httpx.Client | None,
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
        self._signin = SignIn(http, retry)
        self._settings = settings
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0

    @property
    def calls(self) -> int:
        return self._signin.calls

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

    def _grant(self, form: dict[str, str | None]) -> None:
        form = {
            **form,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
        }
        url = f"{self._settings.url}/identity/connect/token"
        response = self._signin.sign_in(
            url, "Acumatica token", data=form, headers={"Accept": "application/json"}
        )
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
        self._signin.sign_out(self._settings, {"Authorization": f"Bearer {access}"})


class CookieSession:
    """POST /entity/auth/login (204 + cookies), POST /entity/auth/logout. The cookies live in this
    session's own jar (the host's pooled client refuses cookies, so sessions never mix); a 401
    (ten minutes idle) signs in again."""

    def __init__(
        self,
        http: httpx.Client | None,
        settings: AcumaticaSettings,
        credentials: AcumaticaCredentials,
        *,
        clock: Clock,
        retry: RetryPolicy,
    ) -> None:
        self._signin = SignIn(http, retry)
        self._settings = settings
        self._credentials = credentials
        self._lock = threading.Lock()
        self._active = False
        self._cookies = httpx.Cookies()

    @property
    def calls(self) -> int:
        return self._signin.calls

    @property
    def signed_in(self) -> bool:
        return self._active

    def apply(self, request: httpx.Request) -> None:
        with self._lock:
            if not self._active:
                self._login()
            request.headers.pop("Cookie", None)
            self._cookies.set_cookie_header(request)

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
        response = self._signin.sign_in(url, "Acumatica sign-in", json=body)
        if response.status_code != 204 and response.status_code != 200:
            raise AuthenticationError(
                f"Acumatica refused the sign-in ({response.status_code}: {target_message(response)}); "
                "check user, password and tenant"
            )
        self._cookies = httpx.Cookies()
        self._cookies.extract_cookies(response)
        self._active = True

    def sign_out(self) -> None:
        with self._lock:
            was_active, self._active = self._active, False
        if not was_active:
            return
        cookie = "; ".join(f"{c.name}={c.value}" for c in self._cookies.jar)
        self._signin.sign_out(self._settings, {"Cookie": cookie} if cookie else {})
        self._cookies = httpx.Cookies()


def _oauth_error(response: httpx.Response) -> str:
    try:
        data = loads(response.content)
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and "error" in data:
        return str(data.get("error_description") or data["error"])
    return target_message(response)


def open_session(
    http: httpx.Client | None,
    settings: AcumaticaSettings,
    credentials: AcumaticaCredentials,
    *,
    clock: Clock,
    retry: RetryPolicy,
) -> Session:
    kind = OAuthSession if settings.auth == "oauth" else CookieSession
    return kind(http, settings, credentials, clock=clock, retry=retry)


__all__ = ["CookieSession", "OAuthSession", "Session", "TransientError", "open_session"]
