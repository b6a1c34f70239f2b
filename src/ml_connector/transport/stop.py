"""A stop request (SIGTERM, Ctrl-C), honoured at the next safe point of the worker.

A signal handler must not raise inside a database driver or halfway through a transaction (the
connection is left unusable and the stop itself can be lost), so `sync` and `run` only *request*
a stop. It is honoured where nothing is half-done in this process: before each HTTP request
(``transport.client.ApiClient.send``), before each posting (``engine.posting``), in every sleep of a
``Clock`` (a backoff never delays it), and between flow runs. There ``Interrupted`` is raised: the
posting in progress releases its claim, the run is recorded ``interrupted``, leases are released. A
second signal raises at once.
"""

from __future__ import annotations

import threading


class Interrupted(BaseException):  # noqa: N818 - a stop request, like KeyboardInterrupt
    """SIGTERM (or SIGINT) asked this worker to stop: claims and leases are released on the way out."""


_requested = threading.Event()
_reason: list[str] = []


def request(reason: str) -> None:
    _reason[:] = [reason]
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def reason() -> str:
    return _reason[0] if _reason else "a stop request"


def checkpoint() -> None:
    """Raise ``Interrupted`` if a stop was requested (call only where nothing is half-done)."""
    if _requested.is_set():
        raise Interrupted(reason())


def wait(seconds: float) -> None:
    """Sleep ``seconds`` real seconds, or until a stop is requested (then raise ``Interrupted``)."""
    if _requested.wait(seconds):
        raise Interrupted(reason())


def reset() -> None:
    """Tests, and a process that starts over: forget an earlier request."""
    _requested.clear()
    _reason.clear()
