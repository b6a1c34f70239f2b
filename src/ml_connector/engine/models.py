"""The store's tables, as SQLAlchemy 2 declarative models.

The schema itself is owned by the Alembic migrations in ``migrations/``; these models must match
them (a test compares the two). Timestamps are UTC everywhere: ``UTCDateTime`` stores naive UTC and
hands back aware datetimes, so SQLite and PostgreSQL compare the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ERPS = ("m3", "acumatica", "none")
SYSTEMS = ("amazon", "m3", "acumatica")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Connection(Base):
    """One Amazon seller account plus one ERP target."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    erp: Mapped[str] = mapped_column(String(20), default="none")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Credential(Base):
    """One system's secrets for one connection, encrypted by the vault (never plaintext)."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("connection_id", "system", name="uq_credentials_connection_system"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    system: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Cursor(Base):
    """A flow's watermark on one connection (e.g. the last settlement report seen)."""

    __tablename__ = "cursors"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Record(Base):
    """One Amazon object on its way to the ERP: deterministic key, state, the ERP id once posted.

    ``claim_owner``/``claim_expires_at`` are the per-key claim: a run may call the target for this
    key only while it holds an unexpired claim, so two runs never post the same key.
    ``claim_token`` grows with every claim taken: the fence checked before every write is the
    triple (record, owner, token), so a run whose claim was taken over can never renew it again.
    """

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "key", name="uq_records_connection_kind_key"),
        Index("ix_records_flow_state_id", "flow", "state", "id"),  # console (migration 0003)
        # status: counts per (connection, flow, kind, state) from the index alone (migration 0005)
        Index("ix_records_connection_flow_kind_state", "connection_id", "flow", "kind", "state"),
        Index("ix_records_key", "key"),
        Index("ix_records_amount_cents", "amount_cents"),  # console search (migration 0007)
        Index("ix_records_day_from", "day_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    flow: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20), index=True)
    erp_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[Any] = mapped_column(JSON, nullable=True)
    claim_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claim_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the holder a claim replaced (set by the claiming upsert: a takeover when not this owner)
    claim_previous: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # what a person searches by besides the key (engine.search_facts): amount in hundredths, days
    amount_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    day_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    day_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class AuditEvent(Base):
    """Append-only: the database refuses UPDATE and DELETE on this table (see the migration)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)  # console: a run's counts (migration 0003)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(30))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OrderSku(Base):
    """A SKU some order of the connection holds, with the first ASIN seen for it: kept by a
    database trigger on ``records`` (migration 0006), read by the items flow."""

    __tablename__ = "order_skus"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    asin: Mapped[str | None] = mapped_column(String(20), nullable=True)


class RawDocument(Base):
    """An Amazon document's original bytes (zlib), kept on first sight: Amazon deletes them."""

    __tablename__ = "raw_documents"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "key", name="uq_raw_documents_connection_kind_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """A named, expiring lock: one run per (connection, flow); taken over once expired."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateBucket(Base):
    """One SP-API (or ERP) rate limit shared by every worker of a PostgreSQL store.

    ``stamp`` is the database server's clock (epoch seconds) at the last take, so processes that
    started at different times agree on how much the bucket has refilled."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    rate: Mapped[float] = mapped_column(Float)
    ceiling: Mapped[float] = mapped_column(Float)
    burst: Mapped[float] = mapped_column(Float)
    stamp: Mapped[float] = mapped_column(Float)


class Run(Base):
    """One run of one flow on one connection, for ``status``."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_connection_flow_id", "connection_id", "flow", "id"),  # console, status
        Index("ix_runs_owner", "owner"),  # replay: the run of a claim's owner (migration 0005)
        # pruning a pair's old runs: a range on this index (migration 0005)
        Index("ix_runs_connection_flow_started_at", "connection_id", "flow", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    flow: Mapped[str] = mapped_column(String(50))
    owner: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # running, finished, failed, interrupted
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)


# --- the console (migration 0003) ---------------------------------------------------------------


class User(Base):
    """A person who signs in to the console; the password only as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # viewer, finance, operator, admin
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A signed-in browser: only the SHA-256 of its cookie is stored, with its CSRF token."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectionPause(Base):
    """A paused connection: the runner starts none of its flows until it is resumed."""

    __tablename__ = "connection_pauses"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paused_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class OpsEvent(Base):
    """What a person did (pause, run now, ping, map a SKU, add a rule, users): who, when, on what."""

    __tablename__ = "ops_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id"), nullable=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
