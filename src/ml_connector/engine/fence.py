"""The write fence: every request a target sends while posting is preceded by a verified claim.

The posting engine opens a fence around ``target.post`` (``with fenced(check): ...``). The one HTTP
stack (``transport.client.ApiClient.send``) calls ``before_send()`` right before each request goes
out, attempts of a retry included; ``before_send`` renews the record's claim in one conditional
UPDATE on (record, owner, token) and raises ``ClaimLost`` when another run has taken the claim
over. So a worker that stalled (SIGSTOP, a VM pause) past its claim stops before its next byte
leaves, however many requests its post makes (M3's MI transactions, Acumatica's PUT + release,
Amazon's patch). Outside a post (reads, ``find``) no fence is open and ``before_send`` does nothing.

What remains unguarded is the moment between the verified renewal and the request's bytes leaving
the socket (see docs/DESIGN.md, "Exactly once"); the engine's settle step catches what passes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class ClaimLost(Exception):  # noqa: N818 - the name says what happened
    """This run's claim on the record was taken over by another run: the write must not go out."""


Check = Callable[[], None]
_current: ContextVar[Check | None] = ContextVar("ml_connector_fence", default=None)


@contextmanager
def fenced(check: Check) -> Iterator[None]:
    """Open a fence for the duration of one ``target.post``; nested posts open their own."""
    token = _current.set(check)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def unfenced() -> Iterator[None]:
    """No fence (the engine's own reads during a post, e.g. a nested document's ``find``)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def before_send() -> None:
    """Called by the HTTP stack right before each request: verify the claim or raise ClaimLost."""
    check = _current.get()
    if check is not None:
        check()


def active() -> bool:
    return _current.get() is not None
