"""Sign-in throttle: at most 5 failed sign-ins per user name and 20 per client address in any
15 minutes; past that, sign-in answers 429 with Retry-After until the oldest failure ages out.

Kept in the console's process, not in the store, on purpose: the console is served by one process
(`ml-connector console`, one uvicorn worker), so memory sees every attempt; a restart forgets the
counts, which grants at most another 5 guesses per user per restart (argon2 makes each guess slow
anyway), and no table or migration is needed for counters that matter only for minutes. A second
console process on the same store would keep its own counts: run one.

Keys are separate: failures against one user name never throttle another user's sign-in (only the
per-address ceiling, shared by every name tried from that address, does). A successful sign-in
clears its user's failures, not its address's.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 15 * 60
PER_USER = 5
PER_ADDRESS = 20
MAX_KEYS = 10_000  # bounded memory when someone tries a million names


@dataclass
class SignInThrottle:
    window: float = WINDOW_SECONDS
    per_user: int = PER_USER
    per_address: int = PER_ADDRESS
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, name: str, address: str) -> int | None:
        """Seconds until this user name and address may try again, or None when they may now."""
        now = self.clock()
        with self._lock:
            waits = [
                self._wait(("user", name.strip().lower()), self.per_user, now),
                self._wait(("address", address), self.per_address, now),
            ]
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._prune(now)
            for key in (("user", name.strip().lower()), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("user", name.strip().lower()), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float | None:
        times = self._failures.get(key)
        if not times:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < limit:
            return None
        return times[-limit] + self.window - now  # when the limit-th newest failure ages out

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._wait(key, 1, now)
        while len(self._failures) >= MAX_KEYS:  # all recent: forget the oldest-started keys
            self._failures.pop(next(iter(self._failures)))
