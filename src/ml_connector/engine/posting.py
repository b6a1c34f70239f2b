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
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from ml_connector.engine.fence import ClaimLost, fenced, unfenced
from ml_connector.engine.redact import scrub
from ml_connector.engine.store import DEFAULT_HEARTBEAT, DONE_STATES, SETTLED_STATES, Store, new_owner
from ml_connector.errors import PermanentError, TransientError
from ml_connector.targets.protocol import Postable, PostingTarget
from ml_connector.transport import stop
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

State = Literal["posted", "found_existing", "failed", "pending", "duplicate_suspected"]
Checkpoint = Callable[[str], None]
STEPS = ("intent_recorded", "found", "posted", "recorded")
REQUEST_TIMEOUT = 60.0  # seconds: the longest read timeout of the ERP and SP-API clients
D = TypeVar("D", bound=Postable)  # a document type and the targets that post it


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


class _Duplicate(Exception):  # noqa: N818
    """Internal: the ERP holds more than one record for the key."""

    def __init__(self, erp_ids: list[str]) -> None:
        super().__init__(", ".join(erp_ids))
        self.erp_ids = erp_ids


def claim_ttl_for(heartbeat: timedelta, request_timeout: float = REQUEST_TIMEOUT) -> timedelta:
    """How long a claim lives after its last renewal, derived from the write bounds.

    Every request a post sends is fenced (the claim renewed and verified right before it leaves),
    and the claim keeper renews held claims every third of the TTL while the worker lives. So the
    claim must outlast one request attempt, bounded by the clients' request timeout, with a margin
    (x 1.5) for the ERP to finish a write the client gave up on; and it lapses with the worker's
    heartbeat, so a dead worker's keys are taken over ``heartbeat_timeout`` after its last beat."""
    return max(heartbeat, timedelta(seconds=request_timeout * 1.5))


class _ClaimKeeper:
    """One daemon thread per process renewing the claims engines hold while a target call runs (a
    long find, a release poll, a backoff between attempts). A stopped or killed process stops
    renewing, so its claims lapse after their TTL; a renewal that fails (claim lost) just stops."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[Callable[[], bool], float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0

    def hold(self, renew: Callable[[], bool], interval: float) -> int:
        with self._lock:
            self._next += 1
            self._held[self._next] = (renew, interval)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="claim keeper", daemon=True)
                self._thread.start()
            self._wake.set()
            return self._next

    def drop(self, handle: int) -> None:
        with self._lock:
            self._held.pop(handle, None)

    def _loop(self) -> None:
        due: dict[int, float] = {}
        while True:
            with self._lock:
                held = dict(self._held)
            now = time.monotonic()
            for handle, (renew, interval) in held.items():
                when = due.setdefault(handle, now + interval)
                if when <= now:
                    due[handle] = now + interval
                    try:
                        if not renew():
                            self.drop(handle)
                    except Exception as exc:  # noqa: BLE001 - a database blip; try again next beat
                        log.warning("claim renewal failed: %s", type(exc).__name__)
            for handle in list(due):
                if handle not in held:
                    del due[handle]
            wait = min((w - time.monotonic() for w in due.values()), default=1.0)
            self._wake.wait(max(0.001, min(wait, 1.0)))
            self._wake.clear()

    def reset(self) -> None:  # in a forked child: the parent's thread does not exist here
        self._held, self._lock, self._thread = {}, threading.Lock(), None
        self._wake = threading.Event()


_keeper = _ClaimKeeper()
os.register_at_fork(after_in_child=_keeper.reset)


class PostingEngine:
    """Posts documents for one connection and flow through the protocol above.

    ``checkpoint(step)`` is called after each protocol step (``STEPS``) so crash tests can kill the
    process exactly there, and with ``"fenced"`` after every verified renewal right before a request
    of ``post`` leaves (stall tests stop the process there, inside the remaining window).
    ``claim_ttl``: see ``claim_ttl_for``.
    """

    def __init__(
        self,
        store: Store,
        connection: str,
        *,
        flow: str,
        retry: RetryPolicy | None = None,
        checkpoint: Checkpoint | None = None,
        claim_ttl: timedelta | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.connection = connection
        self.flow = flow
        self.retry = retry or RetryPolicy(attempts=5, clock=store.clock)
        self.checkpoint = checkpoint or (lambda step: None)
        self.claim_ttl = claim_ttl or claim_ttl_for(DEFAULT_HEARTBEAT)
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
        state: State = rec.state if rec.state in SETTLED_STATES else "failed"  # type: ignore[assignment]
        return PostingResult(key, state, rec.erp_id, rec.error, rec.id, kind)

    # --- the protocol -------------------------------------------------------------------------

    def post(self, document: D, target: PostingTarget[D], *, source: Any = None) -> PostingResult:
        """Post ``document`` through ``target`` unless it already is; never twice."""
        kind, key = document.kind, document.key
        stop.checkpoint()  # a stop request is honoured before a posting begins
        claim = self.store.claim(
            self.connection, kind, key, flow=self.flow, owner=self.owner, ttl=self.claim_ttl, source=source
        )
        rec = claim.record
        if not claim.claimed:
            state: State = rec.state if rec.state in SETTLED_STATES else "pending"  # type: ignore[assignment]
            return PostingResult(
                key, state, rec.erp_id, rec.error, rec.id, kind, already=state in DONE_STATES
            )
        token = claim.token
        claimed_at = self.store.clock.monotonic()  # before any checkpoint: a stall there counts
        self.checkpoint("intent_recorded")
        interval = self.claim_ttl.total_seconds() / 3 / self.store.clock.scale
        held = _keeper.hold(
            lambda: self.store.renew_claim(rec.id, self.owner, self.claim_ttl, token), interval
        )
        try:
            state, erp_id = self._find_or_post(
                rec.id, token, document, target, takeover=claim.takeover, claimed_at=claimed_at
            )
        except _Duplicate as dup:
            return self._duplicate(rec.id, document, dup.erp_ids)
        except ClaimLost:
            return self._lost(rec.id, token, document, target)
        except PermanentError as exc:
            detail = {"field": exc.field} if exc.field else None
            message = scrub(exc.target_message)
            rec = self.store.settle(
                rec.id,
                self.owner,
                state="failed",
                event="failed",
                error=message,
                message=message,
                payload=detail,
                token=token,
            ).record
            log.info("%s %s %s failed: %s", self.connection, kind, key, message)
            return PostingResult(key, "failed", None, message, rec.id, kind)
        except _GaveUp as exc:
            problem = scrub(str(exc))
            rec = self.store.settle(
                rec.id,
                self.owner,
                state="pending",
                event="deferred",
                error=problem,
                message=problem,
                token=token,
            ).record
            return PostingResult(key, "pending", rec.erp_id, problem, rec.id, kind)
        except BaseException as exc:
            # A bug, an unwrapped error, a stop request (SIGTERM, Ctrl-C): release the claim so the
            # next run need not wait for it to expire (query-first covers a post that may have
            # written), then let it propagate. If the store itself is down this fails too and the
            # claim lapses with the heartbeat.
            problem = scrub(
                f"{'interrupted' if not isinstance(exc, Exception) else 'unexpected'} {type(exc).__name__}: {str(exc)[:300]}"
            )
            try:
                self.store.settle(
                    rec.id,
                    self.owner,
                    state="pending",
                    event="deferred",
                    error=problem,
                    message=problem,
                    token=token,
                )
            except Exception as release_problem:  # noqa: BLE001 - the original error matters more
                log.warning("%s %s: claim not released (%s)", kind, key, type(release_problem).__name__)
            raise
        finally:
            _keeper.drop(held)
        event = "posted" if state == "posted" else "found_existing"
        settled = self.store.settle(
            rec.id,
            self.owner,
            state=state,
            event=event,
            erp_id=erp_id,
            message=f"ERP id {erp_id}",
            token=token,
        )
        if not settled.done:
            if settled.conflict is None:
                # our claim was taken over while we wrote; our ERP id is kept for the holder's check
                log.warning(
                    "%s %s %s: lost the claim after writing ERP id %s", self.connection, kind, key, erp_id
                )
                return PostingResult(key, "pending", erp_id, "claim lost", rec.id, kind)
            ids = self._all_ids(document, target, [erp_id, settled.conflict])
            if len(ids) > 1:
                return self._duplicate(rec.id, document, ids)
            rec = settled.record
            final: State = rec.state if rec.state in SETTLED_STATES else "pending"  # type: ignore[assignment]
            return PostingResult(key, final, rec.erp_id, rec.error, rec.id, kind)
        self.checkpoint("recorded")
        rec = settled.record
        final = rec.state if rec.state in SETTLED_STATES else state  # type: ignore[assignment]
        return PostingResult(key, final, rec.erp_id or erp_id, None, rec.id, kind)

    # --- the fence and what is done when it was passed ----------------------------------------

    def _fence(self, record_id: int, token: int, document: Postable) -> Callable[[], None]:
        def check() -> None:
            if not self.store.renew_claim(record_id, self.owner, self.claim_ttl, token):
                raise ClaimLost(
                    f"{document.kind} {document.key}: claim (token {token}) taken over by another run"
                )
            self.checkpoint("fenced")

        return check

    def _all_ids(self, document: D, target: PostingTarget[D], known: list[str | None]) -> list[str]:
        """Every ERP record holding the key, as the ERP answers now, plus the ids this run knows."""
        found: list[str] = []
        find_all = getattr(target, "find_all", None)
        try:
            with unfenced():
                if find_all is not None:
                    found = [str(i) for i in find_all(document)]
                else:
                    one = target.find(document)
                    found = [] if one is None else [str(one)]
        except (TransientError, PermanentError) as exc:
            log.warning("%s %s: could not list its ERP records: %s", document.kind, document.key, exc)
        ids = list(dict.fromkeys(found + [str(k) for k in known if k]))
        return ids

    def _duplicate(self, record_id: int, document: Postable, erp_ids: list[str]) -> PostingResult:
        message = (
            f"the ERP holds {len(erp_ids)} records for {document.kind} {document.key}: "
            f"{', '.join(erp_ids)}; keep one, reverse the others, then `ml-connector replay {record_id}`"
        )
        log.error("%s: %s", self.connection, message)
        rec = self.store.mark_duplicate(record_id, erp_ids, actor=self.owner, message=message)
        return PostingResult(document.key, "duplicate_suspected", rec.erp_id, message, rec.id, document.kind)

    def _lost(self, record_id: int, token: int, document: D, target: PostingTarget[D]) -> PostingResult:
        """The fence stopped a write: this run lost its claim (it stalled past it). Nothing more is
        sent; whatever an earlier request of this post may have written is checked against the ERP."""
        log.warning(
            "%s %s %s: lost the claim to another run (token %d); write aborted",
            self.connection,
            document.kind,
            document.key,
            token,
        )
        ids = self._all_ids(document, target, [])
        if len(ids) > 1:
            return self._duplicate(record_id, document, ids)
        if len(ids) == 1:
            settled = self.store.settle(
                record_id,
                self.owner,
                state="found_existing",
                event="found_existing",
                erp_id=ids[0],
                token=token,
            )
            if settled.conflict is not None:
                both = self._all_ids(document, target, [ids[0], settled.conflict])
                if len(both) > 1:
                    return self._duplicate(record_id, document, both)
        rec = self.store.record(record_id)
        state: State = rec.state if rec.state in SETTLED_STATES else "pending"  # type: ignore[assignment]
        return PostingResult(
            document.key, state, rec.erp_id, "claim lost to another run", rec.id, document.kind
        )

    def _find_or_post(
        self,
        record_id: int,
        token: int,
        document: D,
        target: PostingTarget[D],
        *,
        takeover: bool = False,
        claimed_at: float | None = None,
    ) -> tuple[State, str]:
        """Query first, then post; on a transient error wait and start again from the query.

        After a takeover the first query asks for every ERP record holding the key: the run whose
        claim expired may have written it (once: found; twice: a duplicate for a person)."""
        problem: TransientError | None = None
        fence = self._fence(record_id, token, document)
        clock = self.store.clock
        for attempt in range(self.retry.attempts):
            if problem is not None:
                wait = self.retry.backoff(attempt - 1, problem.retry_after)
                log.info("%s %s: %s, retry %d in %.2fs", document.kind, document.key, problem, attempt, wait)
                self.retry.clock.sleep(wait)
            # Right after the claim its upsert is the verification: a claim can only be lost once
            # it expired, so the renewal before the first find is skipped unless a third of the
            # TTL (the keeper's interval) has passed since. The write itself is always fenced.
            fresh = (
                attempt == 0
                and claimed_at is not None
                and clock.monotonic() - claimed_at < self.claim_ttl.total_seconds() / 3
            )
            if not fresh and not self.store.renew_claim(record_id, self.owner, self.claim_ttl, token):
                raise ClaimLost(f"{document.kind} {document.key}: claim taken over by another run")
            try:
                with unfenced():
                    if takeover and attempt == 0 and getattr(target, "find_all", None) is not None:
                        ids = [str(i) for i in target.find_all(document)]  # type: ignore[attr-defined]
                        if len(ids) > 1:
                            raise _Duplicate(ids)
                    # find as always: it may also finish what the expired run began (a release)
                    existing = target.find(document)
                self.checkpoint("found")
                if existing is not None:
                    return "found_existing", str(existing)
                with fenced(fence):
                    fence()  # a post whose writes do not go through the HTTP stack is fenced here too
                    erp_id = target.post(document)
            except TransientError as exc:
                problem = exc
                continue
            self.checkpoint("posted")
            return "posted", str(erp_id)
        raise _GaveUp(f"still failing after {self.retry.attempts} attempts: {problem}")
