"""Expiring named leases in the store: one run per (connection, flow), taken over once expired.

Portable on SQLite and PostgreSQL with two statements: an INSERT that does nothing on conflict, then
an UPDATE conditional on (same owner or expired). Both databases make each statement atomic, so of
two racing runs exactly one sees a changed row. A crashed run's lease simply expires: its heartbeat (``Heartbeat``) stopped with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from ml_connector.clock import Clock
from ml_connector.engine.dialect import insert_ignore, rowcount
from ml_connector.engine.models import Lease
from ml_connector.errors import MlConnectorError

log = logging.getLogger(__name__)


class LeaseHeld(MlConnectorError):
    """Another live run holds the lease; this run must not start."""


def acquire(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    values = {"name": name, "owner": owner, "expires_at": now + ttl, "acquired_at": now}
    if insert_ignore(session, Lease, values, ["name"]):
        return True
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at < now))
        .values(owner=owner, expires_at=now + ttl, acquired_at=now)
    )
    return rowcount(taken) == 1


def renew(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Extend a lease this owner still holds; False when it was lost (expired and taken over)."""
    renewed = session.execute(
        update(Lease).where(Lease.name == name, Lease.owner == owner).values(expires_at=now + ttl)
    )
    return rowcount(renewed) == 1


def release(session: Session, name: str, owner: str) -> None:
    session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``interval`` (simulated time on ``clock``) until
    stopped. A failing beat (a database blip) is logged and tried again at the next interval; the
    lease or claim it renews lapses only if beats keep failing for the whole timeout."""

    def __init__(self, beat: Callable[[], object], interval: timedelta, clock: Clock, *, name: str) -> None:
        self._beat = beat
        self._wait = max(interval.total_seconds() / clock.scale, 0.001)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._wait):
            try:
                self._beat()
            except Exception as exc:  # noqa: BLE001 - a heartbeat must outlive a database blip
                log.warning("%s: %s: %s", self._thread.name, type(exc).__name__, str(exc).splitlines()[:1])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
