"""Replay: send failed records through the posting protocol again, once their cause is fixed.

A failed record is rebuilt from its stored source, not re-sent as it was: the fix (a GL mapping
added, an item created in the ERP) usually changes the document itself. Each flow module lists a
rebuilder per record kind it posts (``REBUILDERS = {"journal": rebuild_journal}``, each
``fn(store, record, source) -> (document, target)``); ``flows.registry.install_rebuilders`` registers
them here, so the engine never imports a flow.

A rebuilder may raise ``PermanentError`` when the cause is still there; the record stays failed with
that message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml_connector.engine.models import Record
from ml_connector.engine.posting import Checkpoint, PostingEngine, PostingResult
from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.errors import ConfigurationError, PermanentError
from ml_connector.targets.protocol import Postable, PostingTarget
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

# the target posts the document it is returned with (a pairing the alias cannot spell)
Rebuilder = Callable[[Store, Record, Any], tuple[Postable, PostingTarget[Any]]]
_rebuilders: dict[str, Rebuilder] = {}
REPLAYABLE_STATES = ("failed", "pending")


def register_rebuilder(kind_or_flow: str, fn: Rebuilder) -> None:
    """Register how to rebuild records of a kind (``journal``) or a flow (``settlements``)."""
    _rebuilders[kind_or_flow] = fn


def unregister_rebuilder(kind_or_flow: str) -> None:
    _rebuilders.pop(kind_or_flow, None)


def rebuilder_for(record: Record) -> Rebuilder | None:
    """The kind's rebuilder wins over the flow's (a flow may post several kinds)."""
    return _rebuilders.get(record.kind) or _rebuilders.get(record.flow)


@dataclass(frozen=True)
class ReplayOutcome:
    record_id: int
    key: str
    result: PostingResult | None
    skipped: str | None = None  # why nothing was attempted

    @property
    def state(self) -> str:
        return self.result.state if self.result else "skipped"


def replay_record(
    store: Store,
    record_id: int,
    *,
    retry: RetryPolicy | None = None,
    checkpoint: Checkpoint | None = None,
) -> ReplayOutcome:
    """Rebuild one failed (or stuck pending) record and post it through the protocol."""
    rec = store.record(record_id)
    if rec.state in DONE_STATES:
        return ReplayOutcome(rec.id, rec.key, None, f"already {rec.state} as ERP id {rec.erp_id}")
    held = claimed_by(store, rec)
    if held is not None:
        return ReplayOutcome(rec.id, rec.key, None, held)
    if rec.state == "duplicate_suspected":
        # a person kept one ERP record and reversed the others: the replay finds the one left
        rec = store.reopen(rec.id, actor="replay")
    rebuild = rebuilder_for(rec)
    if rebuild is None:
        raise ConfigurationError(
            f"no rebuilder registered for records of kind {rec.kind!r} (flow {rec.flow!r}); "
            "the flow that made this record must be installed"
        )
    connection = store.connection_name(rec.connection_id)
    engine = PostingEngine(store, connection, flow=rec.flow, retry=retry, checkpoint=checkpoint)
    store.add_event(rec.id, "replayed", message=f"replay requested (was {rec.state})", actor=engine.owner)
    try:
        document, target = rebuild(store, rec, rec.source)
    except PermanentError as exc:
        result = engine.fail(rec.kind, rec.key, exc.target_message, source=rec.source)
        return ReplayOutcome(rec.id, rec.key, result)
    try:
        if (document.kind, document.key) != (rec.kind, rec.key):
            raise ConfigurationError(
                f"the rebuilder for {rec.kind} returned {document.kind} {document.key}, not {rec.key}: "
                "a replay must keep the record's deterministic key"
            )
        return ReplayOutcome(rec.id, rec.key, engine.post(document, target, source=rec.source))
    finally:
        # A rebuilder's target may hold ERP sessions (Acumatica counts them against the licence).
        close = getattr(target, "close", None)
        if callable(close):
            close()


def claimed_by(store: Store, rec: Record) -> str | None:
    """Why a replay must wait: a live run holds the record's claim (named, with when it ends)."""
    if rec.claim_owner is None or rec.claim_expires_at is None or rec.claim_expires_at <= store.now():
        return None
    run = store.run_of_owner(rec.claim_owner)
    who = (
        f"run #{run.id} of {run.flow} (started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)"
        if run
        else f"run {rec.claim_owner}"
    )
    return (
        f"claimed by {who} until {rec.claim_expires_at:%Y-%m-%d %H:%M:%S} UTC; "
        "it is being posted now (replay it after that if it is still not posted)"
    )


def replay_failed(
    store: Store,
    *,
    connection: str | None = None,
    include_pending: bool = False,
    retry: RetryPolicy | None = None,
) -> list[ReplayOutcome]:
    """Replay every failed record (and stuck pending ones if asked), oldest first."""
    states = REPLAYABLE_STATES if include_pending else ("failed",)
    outcomes = []
    for state in states:
        for rec in store.records(connection=connection, state=state):
            try:
                outcomes.append(replay_record(store, rec.id, retry=retry))
            except ConfigurationError as exc:
                outcomes.append(ReplayOutcome(rec.id, rec.key, None, str(exc)))
    return outcomes
