"""Time, scalable.

Rate limits, token expiry and backoff all read time through a Clock, so that the sandboxes and the
clients can agree to run N times faster than the wall clock: a test that exercises one hour of token
expiry or Amazon's 0.0167 requests/second never sleeps through it. Nothing else calls time.sleep.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from ml_connector.transport import stop


class Clock:
    """Wall-clock time, optionally running ``scale`` times faster than real time.

    ``monotonic()`` and ``now()`` advance ``scale`` simulated seconds per real second; ``sleep(s)``
    sleeps ``s`` simulated seconds, i.e. ``s / scale`` real seconds.
    """

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("clock scale must be positive")
        self.scale = float(scale)
        self._real_start = time.monotonic()
        self._wall_start = datetime.now(UTC)
        self._offset = 0.0  # simulated seconds added by advance()
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return (time.monotonic() - self._real_start) * self.scale + self._offset

    def now(self) -> datetime:
        """Simulated UTC time (starts at the real time when the clock is made)."""
        return self._wall_start + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        """Sleep simulated seconds; a stop request (``transport.stop``) ends the sleep and raises."""
        if seconds > 0:
            stop.wait(seconds / self.scale)

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (tests: expire a token without waiting)."""
        with self._lock:
            self._offset += seconds


SYSTEM_CLOCK = Clock()


class SteppedClock(Clock):
    """Simulated time that moves only when someone sleeps (or ``advance`` is called).

    For tests whose assertion is about pacing: on a scaled clock a few milliseconds of real
    scheduling delay on a loaded machine become seconds of simulated time and eat a client's pacing
    margin; here a request takes no simulated time at all, so the outcome does not depend on the
    machine's speed. Meant for one client thread: concurrent sleepers would each move time.
    """

    def __init__(self) -> None:
        super().__init__(1.0)

    def monotonic(self) -> float:
        return self._offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
