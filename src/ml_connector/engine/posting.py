"""The posting protocol: the only way any flow writes to an ERP, exactly once per Amazon key.

For each document:

1. record the intent and take the key's claim in the store (one transaction);
2. ask the target whether a record with this key exists (query first);
3. if not, post it;
4. record the ERP's id.

A crash between any two steps leaves the record ``pending`` with a claim that expires; the next run
takes the claim over and starts again at step 2, where query-first finds what step 3 may already
have written. A transient error on ``post`` is retried only after asking ``find`` again, because a
timed-out "add" may have succeeded. A permanent error marks the record failed with the target's own
words; a transient error that outlives the retry policy leaves the record pending for a later run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from ml_connector.engine.redact import scrub
from ml_connector.engine.store import DONE_STATES, Store, new_owner
from ml_connector.errors import PermanentError, TransientError
from ml_connector.model.documents import Document
from ml_connector.targets.protocol import PostingTarget
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

State = Literal["posted", "found_existing", "failed", "pending"]
Checkpoint = Callable[[str], None]
STEPS = ("intent_recorded", "found", "posted", "recorded")


@dataclass(frozen=True, slots=True)
class PostingResult:
    """The outcome for one document. ``pending``: not settled yet (claimed elsewhere or deferred)."""

    key: str
    state: State
    erp_id: str | None = None
    error: str | None = None
    record_id: int | None = None
    kind: str = ""
    already: bool = False  # settled by an earlier run: this call wrote nothing and asked the ERP nothing

    @property
    def outcome(self) -> str:
        """What a run summary counts: ``already_posted`` for work an earlier run finished."""
        return "already_posted" if self.already and self.ok else self.state

    @property
    def ok(self) -> bool:
        return self.state in DONE_STATES


class _GaveUp(Exception):
    """Internal: transient failures outlived the retry policy, or the claim was lost."""


class PostingEngine:
    """Posts documents for one connection and flow through the protocol above.

    ``checkpoint(step)`` is called after each protocol step (``STEPS``) so crash tests can kill the
    process exactly there. ``claim_ttl`` must comfortably exceed one target call plus its retries;
    the claim is renewed before every target call.
    """

    def __init__(
        self,
        store: Store,
        connection: str,
        *,
        flow: str,
        retry: RetryPolicy | None = None,
        checkpoint: Checkpoint | None = None,
        claim_ttl: timedelta = timedelta(minutes=15),
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.connection = connection
        self.flow = flow
        self.retry = retry or RetryPolicy(attempts=5, clock=store.clock)
        self.checkpoint = checkpoint or (lambda step: None)
        self.claim_ttl = claim_ttl
        self.owner = owner or new_owner()
        store.connection(connection)  # fail early, with the fix, on an unknown connection

    # --- events before posting ----------------------------------------------------------------

    def note(self, kind: str, key: str, event: str, payload: Any = None, message: str | None = None) -> int:
        """Record a step before posting (``fetched``, ``transformed``) on the record's trail."""
        rec = self.store.ensure_record(self.connection, kind, key, flow=self.flow)
        self.store.add_event(rec.id, event, message=message, payload=payload, actor=self.owner)
        return rec.id

    def fail(self, kind: str, key: str, message: str, *, source: Any = None) -> PostingResult:
        """Mark a record failed before it reached the target (a mapping gap, an unbalanced journal)."""
        rec = self.store.mark_failed(
            self.connection, kind, key, flow=self.flow, message=message, source=source
        )
        state: State = rec.state if rec.state in DONE_STATES else "failed"  # type: ignore[assignment]
        return PostingResult(key, state, rec.erp_id, rec.error, rec.id, kind)

    # --- the protocol -------------------------------------------------------------------------

    def post(self, document: Document, target: PostingTarget, *, source: Any = None) -> PostingResult:
        """Post ``document`` through ``target`` unless it already is; never twice."""
        kind, key = document.kind, document.key
        claim = self.store.claim(
            self.connection, kind, key, flow=self.flow, owner=self.owner, ttl=self.claim_ttl, source=source
        )
        rec = claim.record
        if not claim.claimed:
            state: State = rec.state if rec.state in DONE_STATES else "pending"  # type: ignore[assignment]
            return PostingResult(
                key, state, rec.erp_id, rec.error, rec.id, kind, already=state in DONE_STATES
            )
        self.checkpoint("intent_recorded")
        try:
            state, erp_id = self._find_or_post(rec.id, document, target)
        except PermanentError as exc:
            detail = {"field": exc.field} if exc.field else None
            message = exc.target_message
            rec = self.store.settle(
                rec.id,
                self.owner,
                state="failed",
                event="failed",
                error=message,
                message=message,
                payload=detail,
            )
            log.info("%s %s %s failed: %s", self.connection, kind, key, exc.target_message)
            return PostingResult(key, "failed", None, exc.target_message, rec.id, kind)
        except _GaveUp as exc:
            rec = self.store.settle(
                rec.id, self.owner, state="pending", event="deferred", error=str(exc), message=str(exc)
            )
            return PostingResult(key, "pending", rec.erp_id, str(exc), rec.id, kind)
        except Exception as exc:
            # A bug or an unwrapped error: release the claim so the next run need not wait for it to
            # expire (query-first covers a post that may have written), then let it propagate.
            problem = f"unexpected {type(exc).__name__}: {scrub(str(exc))[:300]}"
            self.store.settle(
                rec.id, self.owner, state="pending", event="deferred", error=problem, message=problem
            )
            raise
        event = "posted" if state == "posted" else "found_existing"
        rec = self.store.settle(
            rec.id, self.owner, state=state, event=event, erp_id=erp_id, message=f"ERP id {erp_id}"
        )
        self.checkpoint("recorded")
        final: State = rec.state if rec.state in DONE_STATES else state  # type: ignore[assignment]
        return PostingResult(key, final, rec.erp_id or erp_id, None, rec.id, kind)

    def _find_or_post(self, record_id: int, document: Document, target: PostingTarget) -> tuple[State, str]:
        """Query first, then post; on a transient error wait and start again from the query."""
        problem: TransientError | None = None
        for attempt in range(self.retry.attempts):
            if problem is not None:
                wait = self.retry.backoff(attempt - 1, problem.retry_after)
                log.info("%s %s: %s, retry %d in %.2fs", document.kind, document.key, problem, attempt, wait)
                self.retry.clock.sleep(wait)
            if not self.store.renew_claim(record_id, self.owner, self.claim_ttl):
                raise _GaveUp("claim lost to another run; it will settle this record")
            try:
                existing = target.find(document)
                self.checkpoint("found")
                if existing is not None:
                    return "found_existing", str(existing)
                erp_id = target.post(document)
            except TransientError as exc:
                problem = exc
                continue
            self.checkpoint("posted")
            return "posted", str(erp_id)
        raise _GaveUp(f"still failing after {self.retry.attempts} attempts: {problem}")
