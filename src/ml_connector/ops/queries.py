"""What a person reads: overview, problems, records, a record's journey, settlements, runs, SKUs.

Every function takes the store (and, where settings matter, the deployment configuration) and
returns plain dataclasses; the CLI prints them, the console renders them. Queries select only the
columns a page shows and page in SQL, so a page costs the same with 100 records or 100,000.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from ml_connector.config import DeploymentConfig
from ml_connector.engine.journey import EVENT_LABELS, format_journey
from ml_connector.engine.models import AuditEvent, Connection, Record, Run
from ml_connector.engine.store import DONE_STATES, FlowStatus, Store
from ml_connector.errors import ConfigurationError
from ml_connector.ops.classify import classify
from ml_connector.ops.pause import paused_connections

PROBLEM_STATES = ("failed", "pending", "duplicate_suspected")
ORDER_KINDS = ("sales_order", "sales_invoice", "credit_note")
_RECORD_COLUMNS = (
    Record.id,
    Record.connection_id,
    Record.flow,
    Record.kind,
    Record.key,
    Record.state,
    Record.erp_id,
    Record.error,
    Record.attempts,
    Record.updated_at,
    Record.claim_expires_at,
    Record.amount_cents,
    Record.day_from,
    Record.day_to,
)


@dataclass(frozen=True)
class RecordRow:
    id: int
    connection: str
    flow: str
    kind: str
    key: str
    state: str
    erp_id: str | None
    error: str | None
    attempts: int
    updated_at: datetime
    claim_expires_at: datetime | None = None
    error_class: str | None = None
    waiting: str | None = None  # a pending record: why it waits
    amount: Decimal | None = None  # what it is searched by (engine.search_facts)
    day_from: date | None = None
    day_to: date | None = None
    source: Any = None  # the redacted source (a list shows a few of its fields)

    @property
    def days(self) -> str:
        if self.day_from is None:
            return "-"
        if self.day_to in (None, self.day_from):
            return self.day_from.isoformat()
        return f"{self.day_from.isoformat()} – {self.day_to.isoformat()}"


@dataclass
class Page:
    rows: list[Any]
    total: int
    offset: int
    limit: int

    @property
    def showing(self) -> str:
        if not self.total:
            return "nothing to show"
        last = min(self.offset + len(self.rows), self.total)
        return f"showing {self.offset + 1}-{last} of {self.total}"


def _names(store: Store) -> dict[int, str]:
    with store.session() as s:
        return {cid: name for cid, name in s.execute(select(Connection.id, Connection.name))}


def _connection_id(store: Store, name: str | None) -> int | None:
    if not name:
        return None
    ids = {v: k for k, v in _names(store).items()}
    if name not in ids:
        raise ConfigurationError(f"no connection named {name!r} (known: {', '.join(sorted(ids)) or 'none'})")
    return ids[name]


def _row(r: Any, names: dict[int, str]) -> RecordRow:
    return RecordRow(
        r.id,
        names.get(r.connection_id, "?"),
        r.flow,
        r.kind,
        r.key,
        r.state,
        r.erp_id,
        r.error,
        r.attempts,
        r.updated_at,
        r.claim_expires_at,
        classify(r.state, r.error) if r.state in PROBLEM_STATES else None,
        amount=None if r.amount_cents is None else Decimal(r.amount_cents) / 100,
        day_from=r.day_from,
        day_to=r.day_to,
        source=getattr(r, "source", None),  # only the lists that show a source's fields select it
    )


class BadSearch(ConfigurationError):
    """A searched amount or day that is not one (the console answers 400 with these words)."""


@dataclass(frozen=True)
class Search:
    """What a list is searched by: the start of an Amazon key, an amount, a day (any of them)."""

    key: str | None = None
    amount: str | None = None
    day: str | None = None

    def apply(self, query: Any) -> Any:
        from datetime import timedelta

        from ml_connector.engine.search_facts import MAX_SPAN, cents, parse_amount, parse_day

        query = _key_prefix(query, self.key)
        try:
            if self.amount:  # a refund or a fee is typed without its sign: both signs match
                value = cents(parse_amount(self.amount))
                query = query.where(Record.amount_cents.in_({value, -value}))
            if self.day:
                day = parse_day(self.day)  # inside [day_from, day_to]; day_from is indexed
                query = query.where(
                    Record.day_from <= day,
                    Record.day_from >= day - MAX_SPAN - timedelta(days=1),
                    Record.day_to >= day,
                )
        except ValueError as exc:
            raise BadSearch(str(exc)) from None
        return query


def _key_prefix(query: Any, search: str | None) -> Any:
    """Search by Amazon key: an exact key, or the start of one (a range, so the key index serves it)."""
    if not search:
        return query
    search = search.strip()
    return query.where(Record.key >= search, Record.key < search + "\uffff")


# --- status and overview ---------------------------------------------------------------------------


def flow_status(store: Store, connection: str | None = None) -> tuple[list[FlowStatus], list[str]]:
    """`status`: the store's per-flow rows, and the names of the connections asked about."""
    rows = store.status(connection)
    names = [c.name for c in store.connections() if not connection or c.name == connection]
    return rows, names


@dataclass
class FlowOverview:
    flow: str
    last_started: datetime | None
    last_finished: datetime | None
    last_state: str | None
    last_message: str | None
    next_run: datetime | None
    counts: dict[str, int]

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in DONE_STATES)

    @property
    def problems(self) -> int:
        return sum(self.counts.get(s, 0) for s in PROBLEM_STATES)


@dataclass
class ConnectionOverview:
    name: str
    erp: str
    paused_by: str | None
    flows: list[FlowOverview]
    credentials: list[str]
    last_ping: Any = None  # ActionEvent of the last ping, if any
    secret_rotation: str = "date not recorded"
    configured: bool = True

    @property
    def problems(self) -> int:
        return sum(f.problems for f in self.flows)


def overview(store: Store, config: DeploymentConfig | None) -> list[ConnectionOverview]:
    """Per connection and flow: last and next run, state, counts, open problems; credentials health."""
    from ml_connector.ops.events import recent_actions

    names = _names(store)
    with store.session() as s:
        counts: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
        for cid, flow, state, n in s.execute(
            select(Record.connection_id, Record.flow, Record.state, func.count()).group_by(
                Record.connection_id, Record.flow, Record.state
            )
        ):
            counts[(cid, flow)][state] = n
        last_ids = select(func.max(Run.id)).group_by(Run.connection_id, Run.flow)
        runs = {(r.connection_id, r.flow): r for r in s.scalars(select(Run).where(Run.id.in_(last_ids)))}
    paused = paused_connections(store)
    configured = {c.name: c for c in (config.connections if config else [])}
    result = []
    for cid, name in sorted(names.items(), key=lambda kv: kv[1]):
        conn_config = configured.get(name)
        flows: set[str] = set(conn_config.flows) if conn_config else set()
        flows |= {f for (c, f) in set(counts) | set(runs) if c == cid}
        rows = []
        for flow in sorted(flows, key=_flow_order):
            run = runs.get((cid, flow))
            next_run = None
            if conn_config and flow in conn_config.flows and name not in paused:
                next_run = (run.started_at + conn_config.cadence_of(flow)) if run else store.now()
            rows.append(
                FlowOverview(
                    flow,
                    run.started_at if run else None,
                    run.finished_at if run else None,
                    run.state if run else None,
                    run.message if run else None,
                    next_run,
                    counts.get((cid, flow), {}),
                )
            )
        pings = recent_actions(store, connection=name, action="ping", limit=1)
        conn = store.connection(name)
        rotation = ((conn.settings or {}).get("amazon") or {}).get("client_secret_rotates_on")
        result.append(
            ConnectionOverview(
                name=name,
                erp=conn.erp,
                paused_by=paused[name].paused_by if name in paused else None,
                flows=rows,
                credentials=store.credential_systems(name),
                last_ping=pings[0] if pings else None,
                secret_rotation=_rotation_text(rotation, store.now()),
                configured=conn_config is not None,
            )
        )
    return result


def _rotation_text(rotates_on: str | None, now: datetime) -> str:
    if not rotates_on:
        return "date not recorded"
    try:
        days = (datetime.fromisoformat(rotates_on).date() - now.date()).days
    except ValueError:
        return "date not recorded"
    return f"rotate within {days} days" if days >= 0 else f"rotation overdue by {-days} days"


def _flow_order(flow: str) -> int:
    from ml_connector.flows import registry

    return registry.order_index(flow)


# --- records ---------------------------------------------------------------------------------------


def list_records(
    store: Store,
    *,
    connection: str | None = None,
    state: str | None = None,
    flow: str | None = None,
    kinds: tuple[str, ...] | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int | None = 200,
    newest_first: bool = False,
    amount: str | None = None,
    day: str | None = None,
    with_source: bool = False,
) -> Page:
    """Records with their key, state, ERP id and error, paged (`records`, the console's lists);
    ``with_source`` adds each row's redacted source (a page of 50 shows a few of its fields)."""
    names = _names(store)
    cid = _connection_id(store, connection)
    with store.session() as s:
        query = select(*_RECORD_COLUMNS, *((Record.source,) if with_source else ()))
        count = select(func.count()).select_from(Record)
        conditions = []
        if cid is not None:
            conditions.append(Record.connection_id == cid)
        if state:
            conditions.append(Record.state == state)
        if flow:
            conditions.append(Record.flow == flow)
        if kinds:
            conditions.append(Record.kind.in_(kinds))
        query, count = query.where(*conditions), count.where(*conditions)
        wanted = Search(search, amount, day)
        query, count = wanted.apply(query), wanted.apply(count)
        query = query.order_by(Record.id.desc() if newest_first else Record.id).offset(offset)
        if limit:
            query = query.limit(limit)
        rows = [_row(r, names) for r in s.execute(query)]
        # without a key search the total comes from the store's counts, not a count of the records
        total = (s.scalar(count) or 0) if search else None
    if total is None:
        total = store.count_records(connection_id=cid, state=state, flow=flow, kinds=kinds)
    return Page(rows, total, offset, limit or total)


def find_records(store: Store, ref: str, connection: str | None = None) -> Record:
    """The one record a person means by an id or a key (an error names the choices otherwise)."""
    found = store.lookup_records(ref, connection)
    if not found:
        raise ConfigurationError(f"no record {ref!r}; list them with `ml-connector records`")
    if len(found) > 1:
        choices = ", ".join(f"#{r.id} ({r.kind} {r.key})" for r in found)
        raise ConfigurationError(f"{ref!r} matches several records: {choices}; give the id")
    return found[0]


def journey_text(store: Store, ref: str, connection: str | None = None) -> str:
    """`audit`: a record's whole journey as text."""
    rec = find_records(store, ref, connection)
    return format_journey(rec, store.connection_name(rec.connection_id), store.audit_trail(rec.id))


@dataclass(frozen=True)
class JourneyStep:
    at: datetime
    event: str
    label: str
    actor: str | None
    message: str | None
    payload: Any


@dataclass
class RecordDetail:
    record: Record
    connection: str
    steps: list[JourneyStep]
    error_class: str | None
    fix: dict[str, Any] = field(default_factory=dict)  # what "fix and retry" offers, if anything


_CANDIDATES = re.compile(r"closest ERP items: ([^.;]+)")
_ORDER_SKUS = re.compile(r"no ERP item for SKU (.+?); map it")
_ITEM_SKU = re.compile(r"SKU (\S+)(?: \(ASIN [^)]*\))? has no ERP item")


def unmapped_skus(error: str | None) -> list[str]:
    """The SKUs an order's or a SKU record's error names as having no ERP item."""
    text = error or ""
    skus = [sku.strip() for match in _ORDER_SKUS.findall(text) for sku in match.split(",")]
    skus += _ITEM_SKU.findall(text)
    return sorted({s for s in skus if s})


def record_detail(store: Store, record_id: int, config: DeploymentConfig | None = None) -> RecordDetail:
    rec = store.record(record_id)
    steps = [
        JourneyStep(
            e.at, e.event, EVENT_LABELS.get(e.event, e.event.replace("_", " ")), e.actor, e.message, e.payload
        )
        for e in store.audit_trail(rec.id)
    ]
    problem = rec.state in PROBLEM_STATES
    detail = RecordDetail(
        rec,
        store.connection_name(rec.connection_id),
        steps,
        classify(rec.state, rec.error) if problem else None,
    )
    if problem and rec.error:
        detail.fix = fix_for(store, rec, config)
    return detail


def fix_for(store: Store, rec: Record, config: DeploymentConfig | None = None) -> dict[str, Any]:
    """The mapping fixes a failed record offers: SKUs to map (with their closest items), or the
    account rules a quarantined settlement asks for."""
    error = rec.error or ""
    if rec.kind == "settlement" and "no account in the mapping" in error:
        result, _, _ = rebuild_settlement(store, config, rec)
        return {"rules": rules_to_add(result)}
    skus = unmapped_skus(error)
    if not skus:
        return {}
    connection = store.connection_name(rec.connection_id)
    return {"skus": [{"sku": sku, "candidates": closest_items(store, connection, sku)} for sku in skus]}


def closest_items(store: Store, connection: str, sku: str, sku_error: str | None = None) -> list[str]:
    """The closest ERP items the items flow named for an unmatched SKU (from its SKU record's error,
    given when the caller has it already)."""
    if sku_error is None:
        rec = store.find_record(connection, "sku_item", sku)
        sku_error = rec.error if rec is not None else None
    for text in [sku_error] if sku_error else []:
        segment = text.split(f"SKU {sku}", 1)[-1]
        match = _CANDIDATES.search(segment)
        if match:
            return [c.strip() for c in match.group(1).split(",") if c.strip()]
    return []


def rules_to_add(result: Any) -> list[dict[str, str]]:
    """The rules a quarantine asks for (one per unmapped key), as fields a form shows and edits."""
    rules = []
    for u in getattr(result, "unmapped", None) or []:
        account = re.search(r'account = "([^"]*)"', u.suggested_rule)
        category = re.search(r'category = "([^"]*)"', u.suggested_rule)
        rules.append(
            {
                "transaction_type": u.transaction_type,
                "amount_type": u.amount_type,
                "amount_description": u.amount_description,
                "account": account.group(1) if account else "",
                "category": category.group(1) if category else "",
                "amount": str(u.amount),
                "lines": str(u.lines),
                "suggested_rule": u.suggested_rule,
            }
        )
    return rules


def rebuild_settlement(
    store: Store, config: DeploymentConfig | None, rec: Record
) -> tuple[Any, str | None, int | None]:
    """(BuildResult | None, why not, raw size): the settlement rebuilt from its kept raw report with
    the connection's mapping as it is now."""
    from ml_connector.flows.settlements import RAW_KIND, build
    from ml_connector.settlement.mapping import load_mapping

    connection = store.connection_name(rec.connection_id)
    data = store.raw_document(connection, RAW_KIND, rec.key)
    if data is None:
        return None, "the raw report is not in the store", None
    try:
        if config is None:
            raise ConfigurationError("no configuration file")
        conn_config = config.connection(connection)
        path = conn_config.mapping
        stat = path.stat() if path is not None else None
        cache_key = (
            hashlib.sha256(data).hexdigest(),
            str(path),
            stat.st_mtime_ns if stat else None,
            stat.st_size if stat else None,
            conn_config.mode,
            conn_config.split_by_period,
        )
        if cache_key not in _BUILD_CACHE:  # the same report under the same mapping builds the same
            if len(_BUILD_CACHE) >= 64:
                _BUILD_CACHE.pop(next(iter(_BUILD_CACHE)))
            _BUILD_CACHE[cache_key] = build(load_mapping(path), conn_config, data)
        return _BUILD_CACHE[cache_key], None, len(data)
    except Exception as exc:  # shown on the page in words; the record keeps its own error
        return None, str(exc) or type(exc).__name__, len(data)


_BUILD_CACHE: dict[tuple, Any] = {}


# --- problems --------------------------------------------------------------------------------------


@dataclass
class Problems:
    rows: list[RecordRow]
    total: int
    offset: int
    limit: int
    differences: list[dict[str, Any]]  # reconcile differences, one per settlement with any
    by_class: dict[str, int]

    @property
    def page(self) -> Page:
        return Page(self.rows, self.total, self.offset, self.limit)


def problems(
    store: Store,
    *,
    connection: str | None = None,
    flow: str | None = None,
    error_class: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 100,
    amount: str | None = None,
    day: str | None = None,
) -> Problems:
    """Failed, pending (with why they wait) and duplicate-suspected records across connections,
    newest first; quarantined settlements are failed settlement records (class 'data' or
    'mapping'); reconcile differences come from each settlement's last tie-out."""
    names = _names(store)
    cid = _connection_id(store, connection)
    with store.session() as s:
        # Classes are read from the error text: classify every problem from (id, state, error) only,
        # then load the page's rows in full.
        query = select(Record.id, Record.state, Record.error).where(Record.state.in_(PROBLEM_STATES))
        if cid is not None:
            query = query.where(Record.connection_id == cid)
        if flow:
            query = query.where(Record.flow == flow)
        query = Search(search, amount, day).apply(query).order_by(Record.id.desc())
        classified = [(rid, classify(state, error)) for rid, state, error in s.execute(query)]
    by_class: dict[str, int] = defaultdict(int)
    for _, name in classified:
        by_class[name] += 1
    matching = [rid for rid, name in classified if not error_class or name == error_class]
    page_ids = matching[offset : offset + limit]
    with store.session() as s:
        full = {
            r.id: _row(r, names) for r in s.execute(select(*_RECORD_COLUMNS).where(Record.id.in_(page_ids)))
        }
    page = [full[rid] for rid in page_ids if rid in full]
    waiting = _waiting_reasons(store, [r for r in page if r.state == "pending"])
    page = [RecordRow(**{**r.__dict__, "waiting": waiting.get(r.id)}) if r.id in waiting else r for r in page]
    searched = error_class or search or amount or day
    differences = [] if searched else reconcile_differences(store, connection=connection)
    return Problems(page, len(matching), offset, limit, differences, dict(by_class))


def _waiting_reasons(store: Store, rows: list[RecordRow]) -> dict[int, str]:
    if not rows:
        return {}
    now = store.now()
    last: dict[int, AuditEvent] = {}
    with store.session() as s:
        for audit in s.scalars(
            select(AuditEvent).where(AuditEvent.record_id.in_([r.id for r in rows])).order_by(AuditEvent.id)
        ):
            last[audit.record_id] = audit
    reasons = {}
    for row in rows:
        if row.claim_expires_at and row.claim_expires_at > now:
            reasons[row.id] = f"a run is posting it now (its claim ends {row.claim_expires_at:%H:%M:%S} UTC)"
            continue
        event = last.get(row.id)
        if event is not None and event.event == "deferred":
            reasons[row.id] = (
                f"deferred: {event.message or 'the ERP kept failing transiently'}; the next run retries"
            )
        elif event is not None and event.event == "intent":
            reasons[row.id] = (
                "a run stopped while posting it; the next run asks the ERP first, then posts once"
            )
        else:
            reasons[row.id] = (
                event.message if event and event.message else None
            ) or "waiting for its next run"
    return reasons


def reconcile_differences(store: Store, *, connection: str | None = None) -> list[dict[str, Any]]:
    """Settlements whose last tie-out found differences, each difference named with its order."""
    names = _names(store)
    cid = _connection_id(store, connection)
    with store.session() as s:
        settlement_ids = select(Record.id).where(Record.flow == "settlements", Record.kind == "settlement")
        if cid is not None:
            settlement_ids = settlement_ids.where(Record.connection_id == cid)
        last_ids = (  # through the settlements' own events (indexed by record), never a scan of all
            select(func.max(AuditEvent.id))
            .where(AuditEvent.record_id.in_(settlement_ids), AuditEvent.event == "reconciled")
            .group_by(AuditEvent.record_id)
        )
        query = (
            select(AuditEvent, Record.id, Record.key, Record.connection_id)
            .join(Record, Record.id == AuditEvent.record_id)
            .where(AuditEvent.id.in_(last_ids))
        )
        if cid is not None:
            query = query.where(Record.connection_id == cid)
        out = []
        for event, rid, key, conn_id in s.execute(query):
            payload = event.payload or {}
            if payload.get("ties", True):
                continue
            out.append(
                {
                    "record_id": rid,
                    "settlement_id": key,
                    "connection": names.get(conn_id, "?"),
                    "at": event.at,
                    "differences": payload.get("differences") or [],
                }
            )
    return out


# --- settlements -----------------------------------------------------------------------------------


@dataclass
class SettlementRow:
    record_id: int
    connection: str
    settlement_id: str
    status: str  # quarantined, failed, ready, posted, tied out, with differences, resolved
    reason: str | None
    erp_ids: str | None
    total: str | None
    currency: str | None
    start: str | None
    end: str | None
    marketplace: str | None
    differences: int = 0


def settlements(
    store: Store,
    *,
    connection: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 100,
    amount: str | None = None,
    day: str | None = None,
) -> Page:
    """Every settlement with its status, amounts, period and marketplace, newest first; searched
    by id, by payout (`amount`) or by a day of its period up to its deposit (`day`)."""
    page = list_records(
        store,
        connection=connection,
        kinds=("settlement",),
        search=search,
        offset=offset,
        limit=limit,
        newest_first=True,
        amount=amount,
        day=day,
    )
    ids = [r.id for r in page.rows]
    facts: dict[int, dict[str, Any]] = {}
    reconciled: dict[int, dict[str, Any]] = {}
    with store.session() as s:
        for event in s.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.record_id.in_(ids),
                AuditEvent.event.in_(("transformed", "reconciled", *DONE_STATES)),
            )
            .order_by(AuditEvent.id)
        ):
            if event.event == "transformed":
                facts[event.record_id] = event.payload or {}
            elif event.event == "reconciled":
                reconciled[event.record_id] = event.payload or {}
            else:  # a tie-out from before the settlement was posted says nothing about the posting
                reconciled.pop(event.record_id, None)
    need_header = [r for r in page.rows if r.id not in facts]
    headers = _header_facts(store, need_header) if need_header else {}
    rows = []
    for r in page.rows:
        f = facts.get(r.id) or headers.get(r.id) or {}
        tie = reconciled.get(r.id) if r.state in DONE_STATES else None
        rows.append(
            SettlementRow(
                r.id,
                r.connection,
                r.key,
                settlement_status(r.state, r.error, tie),
                r.error,
                r.erp_id,
                f.get("total"),
                f.get("currency"),
                (f.get("start") or "")[:10] or None,
                (f.get("end") or "")[:10] or None,
                f.get("marketplace"),
                len((tie or {}).get("differences") or []),
            )
        )
    return Page(rows, page.total, offset, limit)


def settlement_status(state: str, error: str | None, tie: dict[str, Any] | None) -> str:
    if state in DONE_STATES:
        if tie is None:
            return "posted"
        return "tied out" if tie.get("ties") else "with differences"
    if state == "failed":
        return "quarantined" if (error or "").startswith("quarantined") else "failed"
    if state == "pending":
        return "ready"
    return state.replace("_", " ")


def _header_facts(store: Store, rows: list[RecordRow]) -> dict[int, dict[str, Any]]:
    """Settlements that never transformed (quarantined): amounts from their kept reports' headers,
    read once per report version (cached by digest)."""
    from ml_connector.engine.models import RawDocument
    from ml_connector.flows.settlements import RAW_KIND

    ids = {v: k for k, v in _names(store).items()}
    wanted = {(ids.get(r.connection), r.key): r.id for r in rows}
    with store.session() as s:  # never call the store inside a session: SQLite would wait on itself
        kept = list(
            s.execute(
                select(RawDocument.connection_id, RawDocument.key, RawDocument.sha256).where(
                    RawDocument.kind == RAW_KIND, RawDocument.key.in_([r.key for r in rows])
                )
            )
        )
    names = _names(store)
    found: dict[int, dict[str, Any]] = {}
    for cid, key, digest in kept:
        record_id = wanted.get((cid, key))
        if record_id is None:
            continue
        if digest not in _HEADER_CACHE:
            data = store.raw_document(names[cid], RAW_KIND, key)
            _HEADER_CACHE[digest] = _read_header(data) if data else {}
        found[record_id] = _HEADER_CACHE[digest]
    return found


_HEADER_CACHE: dict[str, dict[str, Any]] = {}


def _read_header(data: bytes) -> dict[str, Any]:
    from ml_connector.settlement.reader import open_report

    try:
        header = open_report(data).settlement
    except Exception:  # a report the reader refuses is shown without amounts; its record says why
        return {}
    return {
        "total": header.total.as_string(),
        "currency": header.currency,
        "start": header.start.isoformat(),
        "end": header.end.isoformat(),
        "marketplace": header.marketplace,
    }


@dataclass
class SettlementDetail:
    row: SettlementRow
    record: Record
    result: Any  # BuildResult rebuilt from the kept raw report with today's mapping, or None
    build_error: str | None
    reserve: list[tuple[str, Any]]
    reconciliation: dict[str, Any] | None
    steps: list[JourneyStep]
    journal_records: list[RecordRow]
    raw_size: int | None
    rules: list[dict[str, str]]

    @property
    def fix(self) -> dict[str, Any]:
        """The same shape as RecordDetail.fix: the account rules this settlement waits for."""
        return {"rules": self.rules} if self.rules and self.record.state != "posted" else {}


def settlement_detail(store: Store, config: DeploymentConfig | None, record_id: int) -> SettlementDetail:
    """Totals by category, the journal(s) per period with every line, reserve, deposit, the tie-out,
    the audit trail: rebuilt from the raw report the store kept, with the mapping as it is now."""
    rec = store.record(record_id)
    if rec.kind != "settlement":
        raise ConfigurationError(f"record #{record_id} is a {rec.kind}, not a settlement")
    connection = store.connection_name(rec.connection_id)
    row = next(
        r for r in settlements(store, connection=connection, search=rec.key).rows if r.record_id == rec.id
    )
    result, build_error, raw_size = rebuild_settlement(store, config, rec)
    reserve = []
    if result is not None:
        reserve = [
            (label, amount)
            for cat, amount in result.categories.items()
            if "reserve" in cat
            for label in [result.category_labels.get(cat, cat)]
        ]
    steps = record_detail(store, rec.id).steps
    tie = None
    for step in steps:  # the last tie-out since the settlement was posted
        if step.event == "reconciled":
            tie = step.payload or {}
        elif step.event in DONE_STATES:
            tie = None
    journals = list_records(store, connection=connection, kinds=("journal",), search=rec.key, limit=50).rows
    return SettlementDetail(
        row,
        rec,
        result,
        build_error,
        reserve,
        tie,
        steps,
        journals,
        raw_size,
        rules_to_add(result),
    )


# --- runs and SKUs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    id: int
    connection: str
    flow: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    message: str | None
    counts: dict[str, int]

    @property
    def duration(self) -> str:
        if self.finished_at is None:
            return "running"
        seconds = (self.finished_at - self.started_at).total_seconds()
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def runs(
    store: Store, *, connection: str | None = None, flow: str | None = None, offset: int = 0, limit: int = 50
) -> Page:
    """Runs newest first, with duration, what they recorded (events in their window) and errors."""
    names = _names(store)
    cid = _connection_id(store, connection)
    with store.session() as s:
        query = select(Run)
        count = select(func.count()).select_from(Run)
        if cid is not None:
            query, count = query.where(Run.connection_id == cid), count.where(Run.connection_id == cid)
        if flow:
            query, count = query.where(Run.flow == flow), count.where(Run.flow == flow)
        items = list(s.scalars(query.order_by(Run.id.desc()).offset(offset).limit(limit)))
        total = s.scalar(count) or 0
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        if items:  # what each run recorded: its flow's events inside its window
            now = store.now()
            first, last = min(r.started_at for r in items), max(r.finished_at or now for r in items)
            times: dict[tuple[int, str, str], list[datetime]] = defaultdict(list)
            for cid_, flow_, event, at in s.execute(
                select(Record.connection_id, Record.flow, AuditEvent.event, AuditEvent.at)
                .join(Record, Record.id == AuditEvent.record_id)
                .where(
                    AuditEvent.at >= first,
                    AuditEvent.at <= last,
                    AuditEvent.event.in_(("posted", "found_existing", "failed", "deferred")),
                )
            ):
                times[(cid_, flow_, event)].append(at)
            for series in times.values():
                series.sort()
            for run in items:
                end = run.finished_at or now
                for (cid_, flow_, event), series in times.items():
                    if (cid_, flow_) == (run.connection_id, run.flow):
                        n = bisect_right(series, end) - bisect_left(series, run.started_at)
                        if n:
                            counts[run.id][event] = n
        rows = [
            RunRow(
                run.id,
                names.get(run.connection_id, "?"),
                run.flow,
                run.state,
                run.started_at,
                run.finished_at,
                run.message,
                counts.get(run.id, {}),
            )
            for run in items
        ]
    return Page(rows, total, offset, limit)


@dataclass
class SkuMap:
    connection: str
    matched: list[tuple[str, str, bool]]  # sku, ERP item, matched through the ASIN (one page of them)
    unmatched: list[dict[str, Any]]  # sku, asin, record id, candidates
    configured: dict[str, str]  # the connection's sku_map in config.toml
    updated: str | None
    matched_total: int = 0
    offset: int = 0
    limit: int = 200

    @property
    def page(self) -> Page:
        return Page(self.matched, self.matched_total, self.offset, self.limit)


def sku_map(
    store: Store,
    config: DeploymentConfig | None,
    connection: str,
    *,
    search: str | None = None,
    offset: int = 0,
    limit: int = 200,
) -> SkuMap:
    """The SKU -> ERP item map the items flow keeps, the unmatched SKUs with their closest items."""
    from ml_connector.flows.items import KIND, stored_map

    stored = stored_map(store, connection) or {}
    items = stored.get("items") or {}
    via_asin = stored.get("via_asin") or {}
    asins = stored.get("asins") or {}
    failed = {
        r.key: r
        for r in list_records(store, connection=connection, kinds=(KIND,), state="failed", limit=None).rows
    }
    search = (search or "").strip().lower()
    matched = sorted(
        (sku, item, sku in via_asin)
        for sku, item in items.items()
        if item and (not search or search in sku.lower() or search in item.lower())
    )
    unmatched_skus = sorted(
        sku
        for sku in {sku for sku, item in items.items() if not item} | set(failed)
        if not search or search in sku.lower()
    )
    unmatched = [
        {
            "sku": sku,
            "asin": asins.get(sku),
            "record_id": failed[sku].id if sku in failed else None,
            "candidates": closest_items(store, connection, sku, failed[sku].error or "")
            if sku in failed
            else [],
        }
        for sku in unmatched_skus
    ]
    configured: dict[str, str] = {}
    if config is not None:
        try:
            configured = dict(config.connection(connection).erp_settings.get("sku_map") or {})
        except ConfigurationError:
            configured = {}
    return SkuMap(
        connection,
        matched[offset : offset + limit],
        unmatched,
        configured,
        stored.get("updated"),
        len(matched),
        offset,
        limit,
    )
