"""One ``httpx.Client`` per (scheme, host, port) and process: one connection pool and one certificate
store per host, however many connections, flows and clients talk to it.

Building an ``httpx.Client`` loads the certificate store (tens of milliseconds and a few MB each);
before this module a ``sync all`` over the demo's two connections built 28 of them. Now every API
client asks ``client_for(url)`` and shares the host's client for the life of the process.

Cookies are refused at the pool level: a shared client must not carry one connection's session
into another's requests. A system that signs in with cookies (Acumatica) keeps them in its own
``httpx.Auth`` (``transport.auth.AcumaticaCookieAuth``) and sets the header on each request.

Timeouts are per request (``ApiClient`` sets its system's), so one client serves every system on a
host. Tests swap the network for an ``httpx.MockTransport`` with ``use_transport`` (the seam), and
``clients_built()`` counts the clients made in this process.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

Key = tuple[str, str, int]

_clients: dict[Key, httpx.Client] = {}
_lock = threading.Lock()
_built = 0
_transport: httpx.BaseTransport | None = None  # the test seam: every new client uses it


def _refusing_jar() -> CookieJar:
    """A jar that neither stores nor sends cookies (no domain is allowed)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def key_of(url: str | httpx.URL) -> Key:
    parsed = httpx.URL(url)
    scheme = parsed.scheme or "https"
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, parsed.host, port


def client_for(url: str | httpx.URL) -> httpx.Client:
    """The process's client for this URL's scheme, host and port (built on first use)."""
    key = key_of(url)
    with _lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = _clients[key] = _build()
        return client


def _build() -> httpx.Client:
    global _built
    _built += 1
    return httpx.Client(
        timeout=DEFAULT_TIMEOUT,
        limits=LIMITS,
        cookies=_refusing_jar(),
        transport=_transport,
        follow_redirects=False,
    )


def clients_built() -> int:
    """How many pooled clients this process has built (the figure the one-pool test checks)."""
    return _built


def close_all() -> None:
    """Close every pooled client (at exit, and when a test swaps the transport)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


@contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Tests: every pooled client built inside the block sends through ``transport`` (an
    ``httpx.MockTransport``); the pool is emptied on the way in and out."""
    global _transport
    close_all()
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous
        close_all()


atexit.register(close_all)
