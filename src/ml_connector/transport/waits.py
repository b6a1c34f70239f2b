"""Long waits say what they wait for: code about to sleep a while announces the reason here, and
whoever shows progress (the CLI's bars) listens. Nothing listens in tests and libraries, so an
announcement costs a function call; a wait under `THRESHOLD` simulated seconds is not announced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

THRESHOLD = 2.0  # simulated seconds
Listener = Callable[[str, float], None]

log = logging.getLogger(__name__)
_listeners: list[Listener] = []
_lock = threading.Lock()


def announce(reason: str, seconds: float) -> None:
    """``reason`` in the user's words ("Amazon rate limit for getReports"), ``seconds`` expected."""
    if seconds < THRESHOLD:
        return
    log.info("waiting %.0fs: %s", seconds, reason)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(reason, seconds)


def listen(listener: Listener) -> Callable[[], None]:
    """Register a listener; returns the function that removes it again."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove
