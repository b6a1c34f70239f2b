"""Token buckets: the shape of every rate limit on every side (SP-API usage plans, ION tenant quotas,
Acumatica's request rate). The same class serves the clients (to stay under a limit) and the
sandboxes (to enforce one), so both sides agree on what a limit means.
"""

from __future__ import annotations

import threading

from ml_connector.clock import SYSTEM_CLOCK, Clock


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked. Thread-safe."""

    def __init__(self, rate: float, burst: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, tokens: float = 1.0) -> bool:
        """Take tokens if there are enough now (the server side: admit or answer 429)."""
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    def reserve(self, tokens: float = 1.0) -> float:
        """Take tokens, going into debt if needed; return the simulated seconds to wait before
        using them. Reservations queue fairly: each caller waits behind the ones before it."""
        with self._lock:
            self._refill()
            self._tokens -= tokens
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, tokens: float = 1.0) -> float:
        """Block (in simulated time) until the tokens are ours; return how long we waited."""
        wait = self.reserve(tokens)
        if wait > 0:
            self._clock.sleep(wait)
        return wait

    def set_rate(self, rate: float) -> None:
        """Change the refill rate (adaptive throttling, or x-amzn-RateLimit-Limit)."""
        with self._lock:
            self._refill()
            self.rate = max(float(rate), 1e-6)

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
