"""What a person does: retry, resolve, fix and retry (map a SKU, add an account rule), pause and
resume a connection, run a flow now, ping. Every action is an ops event naming the user, and an
event on the record's audit trail when it concerns a record.

Replays go through engine.replay (the one posting protocol); runs through flows.runner; pings
through flows.ping. Nothing here talks to Amazon or an ERP itself.
"""

from __future__ import annotations

import getpass
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from ml_connector.config import DeploymentConfig, default_config_path, load_config
from ml_connector.engine import replay as replaying
from ml_connector.engine.dialect import rowcount
from ml_connector.engine.models import Record
from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.errors import ConfigurationError, MlConnectorError
from ml_connector.flows import registry
from ml_connector.ops import config_edit
from ml_connector.ops import pause as pausing
from ml_connector.ops.events import record_action
from ml_connector.ops.queries import PROBLEM_STATES, find_records, unmapped_skus

RESOLVABLE_STATES = PROBLEM_STATES


def cli_user() -> str:
    """The actor of a CLI action: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a container: still an actor
        return "cli"


def _outcome_line(o: replaying.ReplayOutcome) -> str:
    if o.result is None:
        return f"#{o.record_id} {o.key}: skipped, {o.skipped}"
    if o.result.ok:
        return f"#{o.record_id} {o.key}: {o.result.state}, ERP id {o.result.erp_id}"
    return f"#{o.record_id} {o.key}: still {o.result.state}: {o.result.error}"


@dataclass(frozen=True)
class RetryResult:
    outcome: replaying.ReplayOutcome

    @property
    def ok(self) -> bool:
        o = self.outcome
        return (o.result is not None and o.result.ok) or (o.result is None and "already" in (o.skipped or ""))

    @property
    def line(self) -> str:
        return _outcome_line(self.outcome)


def retry(store: Store, record_id: int, *, user: str) -> RetryResult:
    """Replay one record (rebuilt from its stored source, posted through the protocol)."""
    registry.install_rebuilders()
    rec = store.record(record_id)
    record_action(
        store,
        user,
        "retry",
        connection=store.connection_name(rec.connection_id),
        record_id=rec.id,
        message=f"retry requested by {user} (was {rec.state})",
    )
    try:
        outcome = replaying.replay_record(store, rec.id)
    except ConfigurationError as exc:
        outcome = replaying.ReplayOutcome(rec.id, rec.key, None, str(exc))
    return RetryResult(outcome)


def replay_ref(store: Store, ref: str, *, connection: str | None = None, user: str) -> list[RetryResult]:
    """`replay RECORD`: the record a person named, by id or key."""
    return [retry(store, find_records(store, ref, connection).id, user=user)]


def replay_all_failed(
    store: Store, *, connection: str | None = None, include_pending: bool = False, user: str
) -> list[RetryResult]:
    """`replay --failed`: every failed record (and stuck pending ones if asked), oldest first."""
    states = replaying.REPLAYABLE_STATES if include_pending else ("failed",)
    return [
        retry(store, rec.id, user=user)
        for state in states
        for rec in store.records(connection=connection, state=state)
    ]


def resolve(store: Store, record_id: int, reason: str, *, user: str) -> None:
    """Mark a problem handled outside the connector (state ``resolved``), with the reason, audited.
    A later run that fails the record again brings it back to the inbox."""
    reason = (reason or "").strip()
    if not reason:
        raise ConfigurationError("say why the record is resolved (what was done outside the connector)")
    rec = store.record(record_id)
    if rec.state not in RESOLVABLE_STATES:
        raise ConfigurationError(f"record #{rec.id} is {rec.state}: only a problem can be resolved")
    now = store.now()
    if rec.state == "pending" and rec.claim_expires_at and rec.claim_expires_at > now:
        raise ConfigurationError(f"record #{rec.id} is being posted by a run right now; wait for it to end")
    with store.session() as s:
        changed = rowcount(
            s.execute(
                update(Record)
                .where(Record.id == rec.id, Record.state.in_(RESOLVABLE_STATES))
                .values(state="resolved", updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
    if changed != 1:
        raise ConfigurationError(f"record #{rec.id} changed meanwhile; look at it again")
    record_action(
        store,
        user,
        "resolved",
        connection=store.connection_name(rec.connection_id),
        record_id=rec.id,
        message=f"resolved by {user}: {reason}",
    )


def map_sku(
    store: Store, connection: str, sku: str, item: str, *, user: str, config_path: Path | None = None
) -> list[RetryResult]:
    """Fix and retry for an unmatched SKU: save ``sku_map[sku] = item`` in config.toml, then replay
    the SKU's record and every failed order that names the SKU."""
    config_path = config_path or default_config_path()
    config_edit.set_sku_map(config_path, connection, sku, item)
    record_action(
        store, user, "map_sku", connection=connection, message=f"{user} mapped SKU {sku} to ERP item {item}"
    )
    results = []
    sku_record = store.find_record(connection, "sku_item", sku)
    if sku_record is not None and sku_record.state not in DONE_STATES:
        results.append(retry(store, sku_record.id, user=user))
    for rec in store.records(connection=connection, state="failed", flow="orders"):
        if sku in unmapped_skus(rec.error):
            results.append(retry(store, rec.id, user=user))
    return results


def add_rule(
    store: Store, record_id: int, fields: dict[str, str], *, user: str, config_path: Path | None = None
) -> tuple[Path, RetryResult]:
    """Fix and retry for a quarantined settlement: add the account rule to the connection's mapping
    file, then replay the settlement (rebuilt from its kept raw report with the new mapping)."""
    config_path = config_path or default_config_path()
    rec = store.record(record_id)
    connection = store.connection_name(rec.connection_id)
    path = config_edit.add_mapping_rule(config_path, connection, fields)
    key = " / ".join(fields.get(f, "") for f in ("transaction_type", "amount_type", "amount_description"))
    record_action(
        store,
        user,
        "add_rule",
        connection=connection,
        record_id=rec.id,
        message=f"{user} added the rule {key} -> account {fields.get('account')} to {path.name}",
    )
    return path, retry(store, rec.id, user=user)


@dataclass(frozen=True)
class BulkLine:
    record_id: int
    ok: bool  # acted on now: posted (or found in the ERP) by this retry, or resolved; not skipped
    line: str


def bulk(store: Store, record_ids: list[int], action: str, *, user: str, reason: str = "") -> list[BulkLine]:
    """Retry or resolve every record of a filtered set; one line per record, saying whether it
    was acted on (so a caller counts what was done, never what was merely tried)."""
    if action not in ("retry", "resolve"):
        raise ConfigurationError(f"unknown bulk action {action!r}; choose retry or resolve")
    if action == "resolve" and not (reason or "").strip():
        raise ConfigurationError("say why the records are resolved (what was done outside the connector)")
    lines = []
    for record_id in record_ids:
        try:
            if action == "retry":
                result = retry(store, record_id, user=user)
                acted = result.outcome.result is not None and result.ok  # not "already posted"
                lines.append(BulkLine(record_id, acted, result.line))
            else:
                resolve(store, record_id, reason, user=user)
                lines.append(BulkLine(record_id, True, f"#{record_id}: resolved"))
        except MlConnectorError as exc:
            lines.append(BulkLine(record_id, False, f"#{record_id}: {exc}"))
    return lines


def pause(store: Store, connection: str, *, user: str, reason: str | None = None) -> bool:
    changed = pausing.pause(store, connection, by=user, reason=reason)
    record_action(
        store,
        user,
        "pause",
        connection=connection,
        message=f"paused by {user}" + (f": {reason}" if reason else ""),
    )
    return changed


def resume(store: Store, connection: str, *, user: str) -> bool:
    changed = pausing.resume(store, connection)
    record_action(store, user, "resume", connection=connection, message=f"resumed by {user}")
    return changed


def run_now(
    store: Store,
    connection: str,
    flow: str,
    *,
    user: str,
    config: DeploymentConfig | None = None,
    background: bool = False,
):  # noqa: ANN201 - FlowSummary, or the thread running it
    """One run of one flow now, under the same lease as `sync` (a paused connection does not run)."""
    from ml_connector.clock import Clock
    from ml_connector.flows.runner import run_flow

    config = config or load_config()
    conn = config.connection(connection)
    if flow not in conn.flows:
        raise ConfigurationError(
            f"connection {connection} does not run {flow} (its flows: {', '.join(conn.flows)})"
        )
    record_action(store, user, "run_now", connection=connection, message=f"{user} started {flow}")
    registry.install_rebuilders()

    def work():  # noqa: ANN202
        return run_flow(store, conn, flow, clock=Clock(config.time_scale))

    if not background:
        return work()
    thread = threading.Thread(target=work, name=f"run-now-{connection}-{flow}", daemon=True)
    thread.start()
    return thread


def ping(
    store: Store, connection: str, *, user: str, config: DeploymentConfig | None = None
) -> list[tuple[str, list[str]]]:
    """The CLI's ping: each system of the connection answers, or the problems in words."""
    from ml_connector.clock import Clock
    from ml_connector.flows.ping import ping_connection

    config = config or load_config()
    results = ping_connection(store, config.connection(connection), clock=Clock(config.time_scale))
    words = "; ".join(
        f"{system}: {'ok' if not problems else ' / '.join(problems)}" for system, problems in results
    )
    record_action(store, user, "ping", connection=connection, message=words)
    return results
