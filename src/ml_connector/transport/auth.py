"""Credentials on requests, as ``httpx.Auth``: each system's token or session, renewed once.

Every system's credential is applied the same way: ``auth_flow`` puts the current credential on
the request, sends it, and when the answer is the system's "credential refused" status (403 for
SP-API, 401 for the ION gateway and Acumatica) forgets that credential, obtains a new one and sends
the request once more; a second refusal is handed back (the caller says what to check). A 401/403
means the request was refused before it ran, so resending even a write is safe.

The classes hold no secrets themselves: they call the system's own token holder (the LWA cache and
the Restricted Data Token cache in sources/amazon, ``IonTokenClient`` in targets/m3, the Acumatica
``Session`` in targets/acumatica), which renews ahead of expiry and never shows a token in a
message or a repr.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Protocol

import httpx


class RenewingAuth(httpx.Auth):
    """Apply a credential; on one of ``renew_on`` forget it, apply a fresh one and resend, once."""

    requires_response_body = True  # the refusal's body is read before the resend (and kept for errors)
    renew_on: frozenset[int] = frozenset({401})

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self.apply(request)
        response = yield request
        if response.status_code not in self.renew_on:
            return
        self.renew(used)
        self.apply(request)
        yield request

    def apply(self, request: httpx.Request) -> str | None:
        """Put the credential on the request; return it (so ``renew`` forgets only that one)."""
        raise NotImplementedError

    def renew(self, used: str | None) -> None:
        """The server refused ``used``: the next ``apply`` must bring a new credential."""
        raise NotImplementedError


class TokenAuth(RenewingAuth):
    """A bearer-style token from a holder: ``token()`` the current one, ``forget(token)`` after a
    refusal (a holder renews only if the refused token is still its current one, so concurrent
    refusals renew once)."""

    header = "Authorization"
    prefix = "Bearer "

    def __init__(self, token: Callable[[], str], forget: Callable[[str], object]) -> None:
        self._token = token
        self._forget = forget

    def apply(self, request: httpx.Request) -> str:
        value = self._token()
        request.headers[self.header] = self.prefix + value
        return value

    def renew(self, used: str | None) -> None:
        if used is not None:
            self._forget(used)


class LwaTokenAuth(TokenAuth):
    """SP-API: the LWA access token (or a Restricted Data Token) in ``x-amz-access-token``;
    Amazon answers an expired or revoked one with 403 Unauthorized."""

    header = "x-amz-access-token"
    prefix = ""
    renew_on = frozenset({403})


class IonTokenAuth(TokenAuth):
    """ION API gateway: the service account's bearer token; an expired one is 401 (a 403 is the M3
    user's missing right, not the token, and is not renewed)."""

    renew_on = frozenset({401})


class Session(Protocol):
    """What ``AcumaticaSessionAuth`` needs of an Acumatica session (OAuth or cookie)."""

    def apply(self, request: httpx.Request) -> None: ...

    def invalidate(self) -> None: ...


class AcumaticaSessionAuth(RenewingAuth):
    """Acumatica: the session's bearer token or its sign-in cookies (kept by the session, never in
    the shared client's jar); 401 (a session idle ten minutes, a revoked token) signs in again."""

    renew_on = frozenset({401})

    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, request: httpx.Request) -> None:
        self.session.apply(request)
        return None

    def renew(self, used: str | None) -> None:
        self.session.invalidate()


class HookedAuth(httpx.Auth):
    """Runs ``before_send(request)`` right before every request an auth flow sends (the first and a
    renewal's resend), whatever ``httpx.Client`` sends it: the limiter, the call counters and the
    write fence see every request that leaves."""

    requires_response_body = True

    def __init__(
        self,
        inner: httpx.Auth | None,
        before_send: Callable[[httpx.Request], None],
        before_apply: Callable[[], object],
    ) -> None:
        self._inner = inner
        self._before_send = before_send
        self._before_apply = before_apply

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._before_apply()  # the limiter waits before a token is taken, so it is fresh when sent
        if self._inner is None:
            self._before_send(request)
            yield request
            return
        flow = self._inner.sync_auth_flow(request)
        outgoing = next(flow)
        while True:
            self._before_send(outgoing)
            response = yield outgoing
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return
            self._before_apply()
