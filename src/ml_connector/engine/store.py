"""The durable store: connections, encrypted credentials, cursors, records, audit trail, raw documents.

One ``Store`` per process, opened with ``Store.open(url)``: SQLite in the home directory by default,
PostgreSQL by URL for several workers. Opening migrates the database to the newest schema. Every
method runs in its own short transaction, so a crash loses at most the step in progress and never
leaves half of one behind; objects returned are detached snapshots (safe to read after the call).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Engine,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import Connection as SAConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.engine import lease, migrate, paths
from ml_connector.engine.buckets import SharedBuckets
from ml_connector.engine.dialect import dialect_insert, insert_ignore, make_engine, rowcount
from ml_connector.engine.models import (
    ERPS,
    SYSTEMS,
    AuditEvent,
    Connection,
    Credential,
    Cursor,
    Lease,
    OrderSku,
    PairLatestRun,
    RawDocument,
    Record,
    RecordCount,
    Run,
    UTCDateTime,
)
from ml_connector.engine.private import private_sqlite
from ml_connector.engine.redact import install_log_redaction, redact_pii, scrub
from ml_connector.engine.search_facts import facts as search_facts
from ml_connector.engine.vault import Vault
from ml_connector.errors import ConfigurationError
from ml_connector.transport.stop import Interrupted

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT = timedelta(seconds=90)  # `[run] heartbeat_timeout`: leases and claims lapse after it
DEFAULT_KEEP_RUNS = timedelta(days=90)  # `[store] keep_runs_days`: older runs are pruned
DONE_STATES = ("posted", "found_existing")
# a key the ERP holds more than once: a person must look (never claimed or posted again)
NEEDS_PERSON = ("duplicate_suspected",)
SETTLED_STATES = DONE_STATES + NEEDS_PERSON
STATES = ("pending", "posted", "found_existing", "failed", "duplicate_suspected")


@dataclass(frozen=True)
class Claim:
    """What ``Store.claim`` found: the record, and whether this owner may now call the target."""

    record: Record
    claimed: bool
    token: int = 0  # the fencing token of this claim (grows with every claim taken)
    takeover: bool = False  # taken from another run whose claim had expired


@dataclass(frozen=True)
class Settled:
    """What ``Store.settle`` did: ``done`` when this run's result is the record's; ``conflict``
    names another ERP id already recorded for the key (a duplicate to check)."""

    record: Record
    done: bool
    conflict: str | None = None


@dataclass(frozen=True)
class LatestRun:
    """The newest run of one (connection, flow) pair, for the schedule."""

    state: str
    started_at: datetime
    finished_at: datetime | None
    lease_held: bool  # a live run holds the pair's lease (a dead one's has expired)


@dataclass(frozen=True)
class FlowStatus:
    connection: str
    flow: str
    last_run_started: datetime | None
    last_run_finished: datetime | None
    last_run_state: str | None
    posted: int
    failed: int
    pending: int
    duplicate_suspected: int = 0
    kind: str | None = None  # the records' kind (settlement, journal, sales_order...); None: no records yet


class Store:
    def __init__(
        self, engine: Engine, *, clock: Clock = SYSTEM_CLOCK, keep_runs: timedelta = DEFAULT_KEEP_RUNS
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.keep_runs = keep_runs
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._shared_buckets: dict[float, SharedBuckets] = {}
        self._buckets_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        migrate_to: str = "head",
        keep_runs: timedelta = DEFAULT_KEEP_RUNS,
    ) -> Store:
        """Open (and migrate) the store at ``url``, or the default one (see ``paths.database_url``).
        ``keep_runs``: how long runs are kept (``[store] keep_runs_days``)."""
        install_log_redaction()
        url = url or paths.database_url()
        private_sqlite(url)  # 0600 before SQLite creates it (its -wal/-shm then follow its mode)
        engine = make_engine(url)
        migrate.upgrade(engine, migrate_to)
        return cls(engine, clock=clock, keep_runs=keep_runs)

    def close(self) -> None:
        self.engine.dispose()

    def shared_buckets(self, scale: float) -> SharedBuckets | None:
        """Rate limits every worker of this store paces against (PostgreSQL); None on SQLite, whose
        single process keeps its buckets in memory."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self._buckets_lock:
            if scale not in self._shared_buckets:
                self._shared_buckets[scale] = SharedBuckets(self.engine, scale=scale)
            return self._shared_buckets[scale]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[SAConnection]:
        """One statement that is atomic on its own (the fence): no BEGIN, no COMMIT round trips."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection

    def now(self) -> datetime:
        return self.clock.now()

    # --- connections --------------------------------------------------------------------------

    def ensure_connection(
        self, name: str, *, erp: str | None = None, settings: dict[str, Any] | None = None
    ) -> Connection:
        """Create the connection or update it: ``settings`` are merged (top-level keys replaced)."""
        if erp is not None and erp not in ERPS:
            raise ConfigurationError(f"unknown ERP {erp!r}; expected one of {', '.join(ERPS)}")
        if not name or len(name) > 100:
            raise ConfigurationError("a connection name must be 1 to 100 characters")
        now = self.now()
        with self.session() as s:
            values = {"name": name, "erp": erp or "none", "settings": settings or {}}
            insert_ignore(s, Connection, {**values, "created_at": now, "updated_at": now}, ["name"])
            conn = s.scalars(select(Connection).where(Connection.name == name).with_for_update()).one()
            changed = False
            if erp is not None and conn.erp != erp:
                if conn.erp != "none":
                    log.warning("connection %s: ERP changed from %s to %s", name, conn.erp, erp)
                conn.erp, changed = erp, True
            if settings:
                merged = {**(conn.settings or {}), **settings}
                if merged != conn.settings:
                    conn.settings, changed = merged, True
            if changed:
                conn.updated_at = now
            return conn

    def connection(self, name: str) -> Connection:
        with self.session() as s:
            return self._connection(s, name)

    def connections(self) -> list[Connection]:
        with self.session() as s:
            return list(s.scalars(select(Connection).order_by(Connection.name)))

    @staticmethod
    def _connection(s: Session, name: str) -> Connection:
        conn = s.scalars(select(Connection).where(Connection.name == name)).one_or_none()
        if conn is None:
            raise ConfigurationError(
                f"no connection named {name!r}; create it with `ml-connector connect amazon --name {name}`"
            )
        return conn

    # --- credentials --------------------------------------------------------------------------

    def save_credentials(
        self, connection: str, system: str, secrets: dict[str, Any], *, vault: Vault | None = None
    ) -> None:
        """Encrypt and store one system's secrets for a connection (replacing earlier ones)."""
        if system not in SYSTEMS:
            raise ConfigurationError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")
        vault = vault or Vault.load()
        kid, ciphertext = vault.encrypt(secrets, context=f"{connection}/{system}")
        now = self.now()
        with self.session() as s:
            conn = self._connection(s, connection)
            values = {"connection_id": conn.id, "system": system, "key_id": kid, "ciphertext": ciphertext}
            insert_ignore(s, Credential, {**values, "updated_at": now}, ["connection_id", "system"])
            s.execute(
                update(Credential)
                .where(Credential.connection_id == conn.id, Credential.system == system)
                .values(key_id=kid, ciphertext=ciphertext, updated_at=now)
            )

    def load_credentials(self, connection: str, system: str, *, vault: Vault | None = None) -> dict[str, Any]:
        with self.session() as s:
            conn = self._connection(s, connection)
            cred = s.scalars(
                select(Credential).where(Credential.connection_id == conn.id, Credential.system == system)
            ).one_or_none()
        if cred is None:
            raise ConfigurationError(
                f"connection {connection!r} has no {system} credentials; "
                f"add them with `ml-connector connect {system} --name {connection}`"
            )
        return (vault or Vault.load()).decrypt(cred.ciphertext, context=f"{connection}/{system}")

    def credential_systems(self, connection: str) -> list[str]:
        with self.session() as s:
            conn = self._connection(s, connection)
            return sorted(s.scalars(select(Credential.system).where(Credential.connection_id == conn.id)))

    def reencrypt_all(self, old: Vault, new: Vault) -> int:
        """Re-encrypt every credential with ``new`` in one transaction; returns how many."""
        with self.session() as s:
            rows = s.execute(
                select(Credential, Connection.name).join(
                    Connection, Connection.id == Credential.connection_id
                )
            ).all()
            for cred, name in rows:
                context = f"{name}/{cred.system}"
                plain = old.decrypt(cred.ciphertext, context=context)
                cred.key_id, cred.ciphertext = new.encrypt(plain, context=context)
                cred.updated_at = self.now()
            return len(rows)

    # --- cursors ------------------------------------------------------------------------------

    def get_cursor(self, connection: str, flow: str) -> str | None:
        with self.session() as s:
            conn = self._connection(s, connection)
            return s.scalars(
                select(Cursor.value).where(Cursor.connection_id == conn.id, Cursor.flow == flow)
            ).one_or_none()

    def set_cursor(self, connection: str, flow: str, value: str) -> None:
        now = self.now()
        with self.session() as s:
            conn = self._connection(s, connection)
            values = {"connection_id": conn.id, "flow": flow, "value": value, "updated_at": now}
            if not insert_ignore(s, Cursor, values, ["connection_id", "flow"]):
                s.execute(
                    update(Cursor)
                    .where(Cursor.connection_id == conn.id, Cursor.flow == flow)
                    .values(value=value, updated_at=now)
                )

    # --- raw documents ------------------------------------------------------------------------

    def keep_raw_document(self, connection: str, kind: str, key: str, data: bytes) -> bool:
        """Keep ``data`` compressed if this (kind, key) was never seen; True when newly kept."""
        with self.session() as s:
            conn = self._connection(s, connection)
            values = {
                "connection_id": conn.id,
                "kind": kind,
                "key": key,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "data": zlib.compress(data, 9),
                "fetched_at": self.now(),
            }
            return insert_ignore(s, RawDocument, values, ["connection_id", "kind", "key"])

    def raw_document(self, connection: str, kind: str, key: str) -> bytes | None:
        """The original bytes, verified against the digest taken when they were kept."""
        with self.session() as s:
            conn = self._connection(s, connection)
            doc = s.scalars(
                select(RawDocument).where(
                    RawDocument.connection_id == conn.id, RawDocument.kind == kind, RawDocument.key == key
                )
            ).one_or_none()
        if doc is None:
            return None
        data = zlib.decompress(doc.data)
        if hashlib.sha256(data).hexdigest() != doc.sha256:
            raise ConfigurationError(f"raw document {kind} {key} is corrupt (digest mismatch)")
        return data

    def raw_document_keys(self, connection: str, kind: str) -> list[str]:
        with self.session() as s:
            conn = self._connection(s, connection)
            return list(
                s.scalars(
                    select(RawDocument.key)
                    .where(RawDocument.connection_id == conn.id, RawDocument.kind == kind)
                    .order_by(RawDocument.id)
                )
            )

    # --- the SKUs of the orders ---------------------------------------------------------------

    def order_skus(self, connection: str) -> dict[str, str | None]:
        """Every SKU the connection's order records hold, with the first non-empty ASIN seen
        (kept by the database as records are written: one indexed read, not every order's JSON)."""
        with self.session() as s:
            conn = self._connection(s, connection)
            rows = s.execute(
                select(OrderSku.sku, OrderSku.asin)
                .where(OrderSku.connection_id == conn.id)
                .order_by(OrderSku.sku)
            )
            return {sku: asin for sku, asin in rows}

    # --- records and the audit trail ----------------------------------------------------------

    def record(self, record_id: int) -> Record:
        with self.session() as s:
            rec = s.get(Record, record_id)
            if rec is None:
                raise ConfigurationError(f"no record with id {record_id}")
            return rec

    def find_record(self, connection: str, kind: str, key: str) -> Record | None:
        with self.session() as s:
            conn = self._connection(s, connection)
            return s.scalars(
                select(Record).where(Record.connection_id == conn.id, Record.kind == kind, Record.key == key)
            ).one_or_none()

    def lookup_records(self, ref: str, connection: str | None = None) -> list[Record]:
        """Records matching a reference typed by a person: a numeric id, or a key (any kind)."""
        with self.session() as s:
            query = select(Record)
            if ref.isdigit():
                query = query.where(or_(Record.id == int(ref), Record.key == ref))
            else:
                query = query.where(Record.key == ref)
            if connection:
                query = query.where(Record.connection_id == self._connection(s, connection).id)
            return list(s.scalars(query.order_by(Record.id)))

    def records(
        self,
        *,
        connection: str | None = None,
        state: str | None = None,
        flow: str | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        with self.session() as s:
            query = select(Record).order_by(Record.id)
            if connection:
                query = query.where(Record.connection_id == self._connection(s, connection).id)
            if state:
                query = query.where(Record.state == state)
            if flow:
                query = query.where(Record.flow == flow)
            if limit:
                query = query.limit(limit)
            return list(s.scalars(query))

    def count_records(
        self,
        *,
        connection_id: int | None = None,
        state: str | None = None,
        flow: str | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> int:
        """How many records match, from ``record_counts`` (a few rows, never the records)."""
        query = select(func.coalesce(func.sum(RecordCount.n), 0))
        if connection_id is not None:
            query = query.where(RecordCount.connection_id == connection_id)
        if state:
            query = query.where(RecordCount.state == state)
        if flow:
            query = query.where(RecordCount.flow == flow)
        if kinds:
            query = query.where(RecordCount.kind.in_(kinds))
        with self.session() as s:
            return int(s.scalar(query) or 0)

    def connection_name(self, connection_id: int) -> str:
        with self.session() as s:
            return s.scalars(select(Connection.name).where(Connection.id == connection_id)).one()

    def ensure_record(self, connection: str, kind: str, key: str, *, flow: str) -> Record:
        """The record for (connection, kind, key), created ``pending`` on first sight."""
        now = self.now()
        with self.session() as s:
            conn = self._connection(s, connection)
            return self._ensure_record(s, conn.id, kind, key, flow, now)

    @staticmethod
    def _ensure_record(
        s: Session, connection_id: int, kind: str, key: str, flow: str, now: datetime
    ) -> Record:
        values = {
            "connection_id": connection_id,
            "kind": kind,
            "key": key,
            "flow": flow,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "day_from": now.date(),  # the day first seen, until its source names its own day(s)
            "day_to": now.date(),
        }
        insert_ignore(s, Record, values, ["connection_id", "kind", "key"])
        return s.scalars(
            select(Record).where(
                Record.connection_id == connection_id, Record.kind == kind, Record.key == key
            )
        ).one()

    def add_event(
        self,
        record_id: int,
        event: str,
        *,
        message: str | None = None,
        payload: Any = None,
        actor: str | None = None,
        session: Session | None = None,
    ) -> None:
        """Append one event to a record's trail; the payload is PII-redacted before it is stored."""
        row = AuditEvent(
            record_id=record_id,
            at=self.now(),
            event=event,
            message=message,
            payload=None if payload is None else redact_pii(payload),
            actor=actor,
        )
        if session is not None:
            session.add(row)
            return
        with self.session() as s:
            s.add(row)

    def audit_trail(self, record_id: int) -> list[AuditEvent]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.record_id == record_id)
                    .order_by(AuditEvent.at, AuditEvent.id)
                )
            )

    # --- the posting protocol's steps (used by engine.posting) ---------------------------------

    def claim(
        self,
        connection: str,
        kind: str,
        key: str,
        *,
        flow: str,
        owner: str,
        ttl: timedelta,
        source: Any = None,
    ) -> Claim:
        """Record the intent to post and take the key's claim, atomically, in one transaction.

        The claim is taken when nobody holds it, this owner already does, or the holder's claim has
        expired (its run crashed or stalled). Every claim taken increments the record's
        ``claim_token``: the fence before each write checks (record, owner, token). A record already
        posted, or waiting for a person (``duplicate_suspected``), is never claimed again.

        One upsert creates the record or takes its claim and returns it (``claim_previous`` keeps
        the holder it replaced); the intent event joins it in the same statement on PostgreSQL (a
        data-modifying CTE) and follows it in the same transaction on SQLite: one round trip.
        """
        now = self.now()
        conn_id = select(Connection.id).where(Connection.name == connection).scalar_subquery()
        values: dict[str, Any] = {
            "connection_id": conn_id,
            "kind": kind,
            "key": key,
            "flow": flow,
            "state": "pending",
            "attempts": 1,
            "claim_owner": owner,
            "claim_expires_at": now + ttl,
            "claim_token": 1,
            "claim_previous": None,
            "source": None if source is None else redact_pii(source),
            "created_at": now,
            "updated_at": now,
            "day_from": now.date(),  # the day first seen, until its source names its own day(s)
            "day_to": now.date(),
        }
        found = search_facts(source)  # what the console searches besides the key
        values.update(found)
        stmt = dialect_insert(self.engine, Record).values(**values)
        table = Record.__table__
        taken: dict[str, Any] = {
            "claim_owner": owner,
            "claim_expires_at": now + ttl,
            "claim_token": table.c.claim_token + 1,
            "claim_previous": table.c.claim_owner,
            "state": "pending",
            "attempts": table.c.attempts + 1,
            "flow": flow,
            "updated_at": now,
        }
        if source is not None:
            taken["source"] = stmt.excluded.source
            taken.update({column: stmt.excluded[column] for column in found})
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id", "kind", "key"],
            set_=taken,
            where=and_(
                table.c.state.not_in(SETTLED_STATES),
                or_(
                    table.c.claim_owner.is_(None),
                    table.c.claim_owner == owner,
                    table.c.claim_expires_at < now,
                ),
            ),
        ).returning(*table.c)
        try:
            with self.session() as s:
                if self.engine.dialect.name == "postgresql":
                    row = s.execute(
                        _with_event(stmt, now, "intent", _intent_message_sql(owner), owner)
                    ).first()
                else:
                    row = s.execute(stmt).first()
                    if row is not None:
                        message = _intent_message(row.attempts, row.claim_token, row.claim_previous, owner)
                        self.add_event(row.id, "intent", message=message, actor=owner, session=s)
                if row is None:  # settled, or claimed by a live run: nothing taken
                    rec = s.scalars(
                        select(Record).where(
                            Record.connection_id == conn_id, Record.kind == kind, Record.key == key
                        )
                    ).one()
                    return Claim(rec, False)
        except IntegrityError:
            with self.session() as s:
                self._connection(s, connection)  # an unknown connection: say so, with the fix
            raise
        rec = Record(**row._mapping)
        takeover = row.claim_previous is not None and row.claim_previous != owner
        return Claim(rec, True, rec.claim_token, takeover)

    def renew_claim(self, record_id: int, owner: str, ttl: timedelta, token: int | None = None) -> bool:
        """The fence: extend this owner's claim in one conditional UPDATE on (record, owner, token);
        False when the claim was lost meanwhile (taken over by another run: the token changed).

        One statement, so it runs in autocommit (atomic on its own): one round trip."""
        now = self.now()
        conditions = [
            Record.id == record_id,
            Record.claim_owner == owner,  # still ours, even if expired: nobody took it over
            Record.state.not_in(SETTLED_STATES),
        ]
        if token is not None:
            conditions.append(Record.claim_token == token)
        with self.autocommit() as c:
            renewed = c.execute(update(Record).where(*conditions).values(claim_expires_at=now + ttl))
            return renewed.rowcount == 1

    def release_claims(self, owner: str) -> int:
        """Free every claim ``owner`` still holds (a stopped worker): the next run need not wait."""
        with self.session() as s:
            released = s.execute(
                update(Record)
                .where(Record.claim_owner == owner, Record.state.not_in(SETTLED_STATES))
                .values(claim_owner=None, claim_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return rowcount(released) or 0

    def settle(
        self,
        record_id: int,
        owner: str,
        *,
        state: str,
        event: str,
        erp_id: str | None = None,
        error: str | None = None,
        message: str | None = None,
        payload: Any = None,
        token: int | None = None,
    ) -> Settled:
        """End an attempt: set the state, release the claim, append the event, if the claim
        (owner, and ``token`` when given) is still this run's.

        When it is not (another run took the claim over), a failure or a deferral is dropped (the
        holder will settle the record). An ERP id is the truth about the ERP and is never dropped:
        if the record is still open it is kept on the record (event ``posted_after_claim_lost``) for
        the holder's settle to compare with its own; if it is already settled with another ERP id,
        ``Settled.conflict`` names that id so the engine can check the ERP for a duplicate.
        """
        now = self.now()
        error = None if error is None else scrub(error)
        message = None if message is None else scrub(message)
        conditions = [
            Record.id == record_id,
            Record.state.not_in(SETTLED_STATES),
            Record.claim_owner == owner,
        ]
        if token is not None:
            conditions.append(Record.claim_token == token)
        values: dict[str, Any] = {
            "state": state,
            "claim_owner": None,
            "claim_expires_at": None,
            "updated_at": now,
        }
        if state in DONE_STATES:
            values.update(erp_id=erp_id, error=None)
        elif error is not None:
            values["error"] = error
        # The usual case in one statement (with its event): the claim is still ours and no other
        # run left a different ERP id on the record. Anything else takes the careful path below.
        fast = update(Record).where(*conditions).values(**values)
        if state in DONE_STATES and erp_id:
            fast = fast.where(or_(Record.erp_id.is_(None), Record.erp_id == erp_id))
        fast = fast.returning(*Record.__table__.c)
        with self.session() as s:
            if self.engine.dialect.name == "postgresql":
                redacted = None if payload is None else redact_pii(payload)
                row = s.execute(_with_event(fast, now, event, message, owner, redacted)).first()
            else:
                row = s.execute(fast).first()
                if row is not None:
                    self.add_event(record_id, event, message=message, payload=payload, actor=owner, session=s)
            if row is not None:
                return Settled(Record(**row._mapping), True)
            current = s.get(Record, record_id)
            assert current is not None
            foreign = current.erp_id if current.state not in SETTLED_STATES else None
            if state in DONE_STATES and foreign and erp_id and foreign != erp_id:
                # a run that lost its claim posted this key too: do not settle silently
                return Settled(current, False, conflict=foreign)
            changed = s.execute(
                update(Record)
                .where(*conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if rowcount(changed) == 1:
                self.add_event(record_id, event, message=message, payload=payload, actor=owner, session=s)
                rec = s.get(Record, record_id, populate_existing=True)
                assert rec is not None
                return Settled(rec, True)
            rec = s.get(Record, record_id, populate_existing=True)
            assert rec is not None
            if state not in DONE_STATES or not erp_id:
                return Settled(rec, False)
            if rec.state in DONE_STATES:
                if rec.erp_id == erp_id:
                    return Settled(rec, True)
                return Settled(rec, False, conflict=rec.erp_id)
            if rec.state == "duplicate_suspected":
                return Settled(rec, False, conflict=rec.erp_id)
            # still open under another run's claim: leave our ERP id for its settle to compare
            s.execute(
                update(Record)
                .where(Record.id == record_id)
                .values(erp_id=erp_id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            self.add_event(
                record_id,
                "posted_after_claim_lost",
                message=f"ERP id {erp_id} seen or written by a run that had lost its claim",
                payload={"erp_id": erp_id},
                actor=owner,
                session=s,
            )
            rec = s.get(Record, record_id, populate_existing=True)
            assert rec is not None
            return Settled(rec, False)

    def reopen(self, record_id: int, *, actor: str) -> Record:
        """A ``duplicate_suspected`` record a person has cleaned up in the ERP: open it for replay."""
        with self.session() as s:
            s.execute(
                update(Record)
                .where(Record.id == record_id, Record.state == "duplicate_suspected")
                .values(state="pending", erp_id=None, updated_at=self.now())
                .execution_options(synchronize_session=False)
            )
            self.add_event(
                record_id, "reopened", message="duplicate cleared by a person", actor=actor, session=s
            )
            rec = s.get(Record, record_id, populate_existing=True)
            assert rec is not None
            return rec

    def mark_duplicate(self, record_id: int, erp_ids: list[str], *, actor: str, message: str) -> Record:
        """A key held by more than one ERP record: the record waits for a person (never retried)."""
        now = self.now()
        message = scrub(message)
        with self.session() as s:
            s.execute(
                update(Record)
                .where(Record.id == record_id)
                .values(
                    state="duplicate_suspected",
                    erp_id=", ".join(erp_ids)[:200],
                    error=message,
                    claim_owner=None,
                    claim_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            self.add_event(
                record_id,
                "duplicate_suspected",
                message=message,
                payload={"erp_ids": erp_ids},
                actor=actor,
                session=s,
            )
            rec = s.get(Record, record_id, populate_existing=True)
            assert rec is not None
            return rec

    def mark_failed(
        self, connection: str, kind: str, key: str, *, flow: str, message: str, source: Any = None
    ) -> Record:
        """A record that failed before it could be posted (e.g. a mapping gap while transforming)."""
        now = self.now()
        with self.session() as s:
            conn = self._connection(s, connection)
            rec = self._ensure_record(s, conn.id, kind, key, flow, now)
            if rec.state in SETTLED_STATES:
                return rec
            message = scrub(message)
            rec.state, rec.error, rec.updated_at = "failed", message, now
            if source is not None:
                rec.source = redact_pii(source)
                for column, value in search_facts(source).items():
                    setattr(rec, column, value)
            self.add_event(rec.id, "failed", message=message, payload=source, session=s)
            return rec

    # --- runs, leases and status --------------------------------------------------------------

    @contextmanager
    def run(
        self,
        connection: str,
        flow: str,
        *,
        ttl: timedelta = DEFAULT_HEARTBEAT,
        owner: str | None = None,
        heartbeat: bool = True,
    ) -> Iterator[RunHandle]:
        """Hold the (connection, flow) lease for one run; raises ``lease.LeaseHeld`` if taken.

        ``ttl`` is the heartbeat timeout: a thread renews the lease every third of it while the run
        works, so a live run keeps its lease however long it takes and a SIGKILLed one loses it
        ``ttl`` after its last beat. The run ends ``finished``, ``failed`` (with a one-line reason)
        or ``interrupted`` (SIGTERM, SIGINT); the lease is released in every case but a kill."""
        owner = owner or new_owner()
        name = f"run:{connection}:{flow}"
        now = self.now()
        with self.session() as s:
            conn = self._connection(s, connection)
            if not lease.acquire(s, name, owner, now, ttl):
                raise lease.LeaseHeld(f"another run of {flow} on {connection} is in progress")
            s.execute(
                update(Run)
                .where(Run.connection_id == conn.id, Run.flow == flow, Run.state == "running")
                .values(state="interrupted", finished_at=now)
            )
            run = Run(connection_id=conn.id, flow=flow, owner=owner, state="running", started_at=now)
            s.add(run)
            s.flush()
            run_id = run.id
            # the pair's runs older than `keep_runs` (an index range); the new one is its latest
            s.execute(
                delete(Run).where(
                    Run.connection_id == conn.id,
                    Run.flow == flow,
                    Run.started_at < now - self.keep_runs,
                    Run.id != run_id,
                )
            )
        handle = RunHandle(self, name, owner, ttl, run_id)
        beat = (
            lease.Heartbeat(handle.renew, ttl / 3, self.clock, name=f"heartbeat {name}")
            if heartbeat
            else None
        )
        state, message = "finished", None
        try:
            yield handle
        except (KeyboardInterrupt, Interrupted) as exc:
            state, message = "interrupted", type(exc).__name__
            raise
        except BaseException as exc:
            state, message = "failed", one_line(exc)
            raise
        finally:
            if beat is not None:
                beat.stop()
            with self.session() as s:
                s.execute(
                    update(Run)
                    .where(Run.id == run_id)
                    .values(state=state, finished_at=self.now(), message=message)
                )
                lease.release(s, name, owner)
                # the run's engines claim under its owner: whatever a stop left claimed is freed
                s.execute(
                    update(Record)
                    .where(Record.claim_owner == owner, Record.state.not_in(SETTLED_STATES))
                    .values(claim_owner=None, claim_expires_at=None)
                    .execution_options(synchronize_session=False)
                )

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        with self.session() as s:
            row = s.get(lease.Lease, name)
            return None if row is None else (row.owner, row.expires_at)

    def run_of_owner(self, owner: str) -> Run | None:
        """The newest run whose owner is ``owner`` (engines post under their run's owner)."""
        with self.session() as s:
            return s.scalars(select(Run).where(Run.owner == owner).order_by(Run.id.desc()).limit(1)).first()

    def latest_runs(self) -> dict[tuple[str, str], LatestRun]:
        """The newest run of every (connection, flow) pair, and whether a live worker holds its lease.

        Reads ``latest_runs`` (one row per pair, kept by a trigger), whatever the number of old runs."""
        now = self.now()
        with self.session() as s:
            rows = s.execute(
                select(Connection.name, Run.flow, Run.state, Run.started_at, Run.finished_at)
                .join(PairLatestRun, PairLatestRun.run_id == Run.id)
                .join(Connection, Connection.id == Run.connection_id)
            ).all()
            held = {
                name
                for name, expires in s.execute(
                    select(Lease.name, Lease.expires_at).where(Lease.name.like("run:%"))
                )
                if expires >= now
            }
        return {
            (name, flow): LatestRun(state, started, finished, f"run:{name}:{flow}" in held)
            for name, flow, state, started, finished in rows
        }

    def status(self, connection: str | None = None) -> list[FlowStatus]:
        """Per connection, flow and record kind: the flow's last run and how many records are
        posted, failed, pending. One row per kind, so a settlement and its journals are counted
        apart ("10 settlements, 20 journals"), the way `sync` counts them. Reads aggregates and
        the newest run of each pair only: ``record_counts`` and ``latest_runs``, kept by triggers
        (migration 0008), so its cost does not grow with the records or the runs."""
        with self.session() as s:
            names = {cid: name for cid, name in s.execute(select(Connection.id, Connection.name))}
            counts: dict[tuple[int, str], dict[str, dict[str, int]]] = {}
            for cid, flow, kind, state, n in s.execute(
                select(
                    RecordCount.connection_id,
                    RecordCount.flow,
                    RecordCount.kind,
                    RecordCount.state,
                    RecordCount.n,
                ).where(RecordCount.n > 0)
            ):
                counts.setdefault((cid, flow), {}).setdefault(kind, {})[state] = n
            runs = {
                (r.connection_id, r.flow): r
                for r in s.scalars(select(Run).join(PairLatestRun, PairLatestRun.run_id == Run.id))
            }
        rows = []
        for cid, flow in sorted(set(counts) | set(runs), key=lambda k: (names[k[0]], k[1])):
            if connection and names[cid] != connection:
                continue
            run = runs.get((cid, flow))
            for kind, c in sorted(counts.get((cid, flow), {"": {}}).items()):
                rows.append(
                    FlowStatus(
                        connection=names[cid],
                        flow=flow,
                        last_run_started=run.started_at if run else None,
                        last_run_finished=run.finished_at if run else None,
                        last_run_state=run.state if run else None,
                        posted=c.get("posted", 0) + c.get("found_existing", 0),
                        failed=c.get("failed", 0),
                        pending=c.get("pending", 0),
                        duplicate_suspected=c.get("duplicate_suspected", 0),
                        kind=kind or None,
                    )
                )
        return rows


@dataclass
class RunHandle:
    """The running flow's hold on its lease: renew it during long runs."""

    store: Store
    name: str
    owner: str
    ttl: timedelta
    run_id: int

    def renew(self) -> bool:
        """Extend the lease (the heartbeat calls it); False when it was lost (the run stalled past
        it and another run took it over)."""
        with self.store.session() as s:
            held = lease.renew(s, self.name, self.owner, self.store.now(), self.ttl)
        if not held:
            log.warning("%s: this run lost its lease (it stalled past %s)", self.name, self.ttl)
        return held


def _intent_message(attempts: int, token: int, previous: str | None, owner: str) -> str:
    message = f"attempt {attempts}, token {token}"
    if previous is not None and previous != owner:
        message += f"; took over the expired claim of {previous}"
    return message


def _intent_message_sql(owner: str) -> Callable[[Any], Any]:
    """``_intent_message`` as SQL over the claimed row (PostgreSQL builds the event in the upsert)."""

    def build(row: Any) -> Any:
        took_over = and_(row.claim_previous.is_not(None), row.claim_previous != owner)
        return func.concat(
            "attempt ",
            row.attempts,
            ", token ",
            row.claim_token,
            case((took_over, func.concat("; took over the expired claim of ", row.claim_previous)), else_=""),
        )

    return build


def _with_event(
    stmt: Any,
    at: datetime,
    event: str,
    message: str | None | Callable[[Any], Any],
    actor: str | None,
    payload: Any = None,
) -> Any:
    """PostgreSQL: ``stmt`` (a write RETURNING the record's columns) and its audit event in one
    statement: ``WITH r AS (stmt), e AS (INSERT INTO audit_events SELECT ... FROM r) SELECT * FROM r``.
    No row changed, no event."""
    written = stmt.cte("r")
    text = message(written.c) if callable(message) else literal(message, String)
    events = cast(Table, AuditEvent.__table__)  # the mapped class's table (typed as a FromClause)
    added = (
        insert(events)
        .from_select(
            ["record_id", "at", "event", "message", "payload", "actor"],
            select(
                written.c.id,
                literal(at, UTCDateTime),
                literal(event, String),
                text,
                literal(payload, JSON) if payload is not None else null(),
                literal(actor, String),
            ),
        )
        .cte("e")
    )
    return select(written).add_cte(added)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for a person (the traceback goes to the log)."""
    text = " ".join(str(exc).split())
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:limit]


def new_owner() -> str:
    """A unique owner id for one run or engine instance (never reused, even across hosts)."""
    return uuid.uuid4().hex
