"""Expiring named leases in the store: one run per (connection, flow), taken over once expired.

Portable on SQLite and PostgreSQL with two statements: an INSERT that does nothing on conflict, then
an UPDATE conditional on (same owner or expired). Both databases make each statement atomic, so of
two racing runs exactly one sees a changed row. A crashed run's lease simply expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from ml_connector.engine.dialect import insert_ignore
from ml_connector.engine.models import Lease
from ml_connector.errors import MlConnectorError


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
    return taken.rowcount == 1


def renew(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Extend a lease this owner still holds; False when it was lost (expired and taken over)."""
    renewed = session.execute(
        update(Lease).where(Lease.name == name, Lease.owner == owner).values(expires_at=now + ttl)
    )
    return renewed.rowcount == 1


def release(session: Session, name: str, owner: str) -> None:
    from sqlalchemy import delete

    session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))
