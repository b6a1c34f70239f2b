"""A flow's world for one connection: the Amazon client, the ERP target, the store and the rules.

This is the only place that turns stored settings and vault credentials into live clients, so every
flow, `sync`, `run`, `ping`, `replay` and the demo build their clients the same way.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.config import ConnectionConfig, DeploymentConfig
from ml_connector.engine.posting import PostingEngine, claim_ttl_for
from ml_connector.engine.store import DEFAULT_HEARTBEAT, Store
from ml_connector.errors import ConfigurationError
from ml_connector.flows import registry
from ml_connector.sources.amazon import SpApiClient
from ml_connector.sources.amazon.regions import MARKETPLACES
from ml_connector.targets.protocol import ErpTarget, PostingTarget
from ml_connector.transport.retry import RetryPolicy


class Progress(Protocol):
    """What a flow reports while it works (Rich bars on a terminal, nothing in tests)."""

    def start(self, description: str, total: int | None = None) -> None: ...

    def advance(self, steps: int = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, description: str, total: int | None = None) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass
class FlowSummary:
    """What one run of one flow did: counts by outcome, plus lines worth showing a person."""

    flow: str
    connection: str
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # figures for the demo and tests

    def count(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n

    def line(self) -> str:
        """The run in plain words: every count says what it counts ("7 canceled orders skipped")."""
        parts = [_count_words(self.flow, key, n) for key, n in _ordered(self.counts) if n]
        journals = sum(
            len(f.get("journals") or ()) for f in self.facts.get("settlements", []) if isinstance(f, dict)
        )
        if self.flow == "settlements" and journals:
            parts.append(f"{journals} journal(s) in the ERP for them")
        return f"{self.flow:12} {self.connection}: {', '.join(parts) or 'nothing new'}"


# What each count means, per flow: {n} is the number. Unknown keys fall back to their own name.
COUNT_WORDS: dict[str, str] = {
    "posted": "{n} {noun} posted",
    "found_existing": "{n} {noun} already in the ERP (found, not sent again)",
    "already_posted": "{n} {noun} already posted (by an earlier run)",
    "updated": "{n} {noun} updated",
    "unchanged": "{n} {noun} already up to date",
    "confirmed": "{n} shipments confirmed to Amazon",
    "already_confirmed": "{n} shipments already confirmed on Amazon",
    "mapped": "{n} SKUs matched to ERP items",
    "mapped_by_asin": "{n} of them matched by ASIN",
    "unmapped": "{n} SKUs with no ERP item",
    "no_listing": "{n} ERP items with no Amazon listing",
    "other_marketplace": "{n} settlements of other marketplaces left to their connection",
    "tied": "{n} settlements tie out",
    "already_tied": "{n} settlements tied out earlier",
    "with_differences": "{n} settlements with differences",
    "canceled_after_posting": "{n} orders canceled on Amazon after posting (flagged for a person)",
    "failed": "{n} failed (`ml-connector records --state failed`)",
    "pending": "{n} left for the next run (the ERP did not answer)",
    "run_failed": "the run could not start",
    "skipped_lease_held": "skipped: another run of this flow is in progress",
}
FLOW_COUNT_WORDS: dict[tuple[str, str], str] = {
    ("orders", "skipped"): "{n} canceled orders skipped",
    ("orders", "waiting"): "{n} orders still Pending on Amazon (posted once they are paid)",
    ("shipments", "skipped"): "{n} Amazon-fulfilled orders skipped (Amazon ships them)",
    ("shipments", "waiting"): "{n} shipments without a tracking number yet",
    ("stock_price", "waiting"): "{n} updates sent in a feed Amazon is still processing",
}
_ORDER = tuple(COUNT_WORDS)


def _ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    known = [(k, counts[k]) for k in _ORDER if k in counts]
    return known + sorted((k, n) for k, n in counts.items() if k not in COUNT_WORDS)


def _count_words(flow: str, key: str, n: int) -> str:
    template = FLOW_COUNT_WORDS.get((flow, key)) or COUNT_WORDS.get(key) or "{n} " + key.replace("_", " ")
    noun = registry.spec(flow).noun if flow in registry.NAMES else "records"
    return template.format(n=n, noun=noun)


@dataclass
class FlowContext:
    store: Store
    connection: ConnectionConfig
    amazon: SpApiClient
    target: ErpTarget
    clock: Clock = SYSTEM_CLOCK
    progress: Progress = field(default_factory=NoProgress)
    since: datetime | None = None  # `sync --since`: overrides the stored cursor for this run
    retry: RetryPolicy | None = None
    checkpoint: Callable[[str], None] | None = None  # crash tests: SIGKILL between protocol steps
    owner: str | None = None  # the run's owner: its engines claim records under it (replay names the run)
    heartbeat: timedelta = DEFAULT_HEARTBEAT  # `[run] heartbeat_timeout`: claims lapse after it

    @property
    def name(self) -> str:
        return self.connection.name

    def engine(self, flow: str) -> PostingEngine:
        return PostingEngine(
            self.store,
            self.name,
            flow=flow,
            retry=self.retry,
            checkpoint=self.checkpoint,
            owner=self.owner,
            claim_ttl=claim_ttl_for(self.heartbeat),
        )

    @cached_property
    def mapping(self):
        from ml_connector.settlement.mapping import load_mapping

        mapping = load_mapping(self.connection.mapping)
        return mapping.with_fee_tax(self.connection.fee_tax) if self.connection.fee_tax else mapping

    def marketplace(self, marketplace_id: str):
        return MARKETPLACES[marketplace_id]

    def close(self) -> None:
        # Closing is best effort: a failed sign-out must not hide the run's own result.
        for closer in (self.target.close, self.amazon.close):
            with contextlib.suppress(Exception):
                closer()


class ClosingTarget:
    """A target for one replay: posts through ``target`` (the context's ERP by default; an
    Amazon-side target for listing updates and shipments), then closes the whole context (Acumatica
    sessions signed out, ION token revoked) when the replay is done."""

    def __init__(self, ctx: FlowContext, target: PostingTarget[Any] | None = None) -> None:
        self._ctx = ctx
        self._target = target or ctx.target

    def find(self, document):  # noqa: ANN001, ANN201 - the PostingTarget protocol
        return self._target.find(document)

    def post(self, document):  # noqa: ANN001, ANN201
        return self._target.post(document)

    def find_all(self, document):  # noqa: ANN001, ANN201
        find_all = getattr(self._target, "find_all", None)
        if find_all is not None:
            return find_all(document)
        found = self._target.find(document)
        return [] if found is None else [found]

    def close(self) -> None:
        self._ctx.close()


def stored_settings(store: Store, name: str, system: str) -> dict[str, Any]:
    return dict((store.connection(name).settings or {}).get(system) or {})


def build_amazon(store: Store, name: str, *, clock: Clock, retry: RetryPolicy | None = None) -> SpApiClient:
    systems = store.credential_systems(name)
    if "amazon" not in systems:
        raise ConfigurationError(
            f"connection {name!r} has no Amazon credentials: run `ml-connector connect amazon --name {name}`"
        )
    secrets = store.load_credentials(name, "amazon")
    return SpApiClient.from_connection(
        stored_settings(store, name, "amazon"),
        secrets,
        clock=clock,
        retry=retry,
        shared_limits=store.shared_buckets(clock.scale),
    )


def build_target(
    store: Store, connection: ConnectionConfig, *, clock: Clock, retry: RetryPolicy | None = None
) -> ErpTarget:
    """The ERP adapter, from the stored settings (`connect`) overlaid with the TOML's ERP table."""
    name, erp = connection.name, connection.erp
    if not any(known.name == name for known in store.connections()):
        raise ConfigurationError(
            f"no connection named {name!r} yet: run `ml-connector connect {erp} --name {name}`"
        )
    if erp not in store.credential_systems(name):
        raise ConfigurationError(
            f"connection {name!r} has no {erp} credentials: run `ml-connector connect {erp} --name {name}`"
        )
    secrets = store.load_credentials(name, erp)
    stored = stored_settings(store, name, erp)
    # One source of truth: `connect` stores what the credentials are for (the .ionapi's public keys;
    # the Acumatica site and tenant); every other setting comes from config.toml's ERP table.
    settings = connection.erp_settings
    if erp == "m3":
        from ml_connector.targets.m3.ionapi import KNOWN_KEYS, parse_ionapi
        from ml_connector.targets.m3.settings import M3Settings
        from ml_connector.targets.m3.target import M3Target

        known = M3Settings.__dataclass_fields__
        m3_settings = M3Settings(**{k: v for k, v in settings.items() if k in known and v not in ("", None)})
        document = {k: v for k, v in stored.items() if k in KNOWN_KEYS} | secrets
        return M3Target(
            parse_ionapi(document, source=f"connection {name}"), m3_settings, clock=clock, retry=retry
        )
    from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
    from ml_connector.targets.acumatica.target import AcumaticaTarget

    settings = {k: stored[k] for k in ("url", "tenant") if stored.get(k)} | settings
    if not settings.get("url") or not settings.get("tenant"):
        raise ConfigurationError(
            f"connection {name!r}: Acumatica url and tenant are missing; run `ml-connector connect acumatica`"
        )
    return AcumaticaTarget(
        AcumaticaSettings.from_mapping(settings),
        AcumaticaCredentials.from_secrets(secrets),
        clock=clock,
        retry=retry,
    )


def open_context(
    store: Store,
    connection: ConnectionConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    since: datetime | None = None,
    retry: RetryPolicy | None = None,
    checkpoint: Callable[[str], None] | None = None,
    owner: str | None = None,
    heartbeat: timedelta = DEFAULT_HEARTBEAT,
) -> FlowContext:
    store.ensure_connection(connection.name, erp=connection.erp)
    amazon = build_amazon(store, connection.name, clock=clock, retry=retry)
    try:
        target = build_target(store, connection, clock=clock, retry=retry)
    except BaseException:
        amazon.close()
        raise
    return FlowContext(
        store=store,
        connection=connection,
        amazon=amazon,
        target=target,
        clock=clock,
        progress=progress or NoProgress(),
        since=since,
        retry=retry,
        checkpoint=checkpoint,
        owner=owner,
        heartbeat=heartbeat,
    )


def context_for_record(
    store: Store, connection_name: str, config: DeploymentConfig | None = None
) -> FlowContext:
    """For replay: the context of the connection that made a record (config from the default file)."""
    from ml_connector.config import load_config

    config = config or load_config()
    return open_context(store, config.connection(connection_name), clock=Clock(config.time_scale))
