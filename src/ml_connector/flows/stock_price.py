"""The stock & price flow: the ERP's available quantity and price pushed to the Amazon listings,
only where Amazon shows something else.

Per marketplace: read Amazon's listings (searchListingsItems, twenty SKUs a call), read the ERP's
levels for the mapped SKUs (one call set for all), and compare. A few changes go as one
patchListingsItem each; more than ``PATCH_LIMIT`` go as one JSON_LISTINGS_FEED, polled until Amazon
has processed it, and its processing report is recorded per SKU. A price is pushed only in the
marketplace's own currency; a quantity only to seller-fulfilled listings (Amazon counts FBA stock).

Keys: the n-th update of a listing is "LST-<marketplace>-<sku>-<n>" and the n-th feed of a
marketplace "FEED-<marketplace>-<n>", n kept in the store (cursor "stock_price"); a key already
settled is stepped over, so a crash between posting and saving the counters never reuses a key.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

from ml_connector.engine.posting import PostingEngine, PostingResult
from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.errors import PermanentError
from ml_connector.flows import items as items_flow
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.model.orders import StockLevel
from ml_connector.sources.amazon.resources import ListingState
from ml_connector.targets.amazon.feeds import (
    LISTINGS_FEED,
    FeedReport,
    FeedResultTarget,
    ListingsFeed,
    ListingsFeedTarget,
)
from ml_connector.targets.amazon.listings import (
    LISTING_UPDATE,
    ListingStates,
    ListingUpdate,
    ListingUpdateTarget,
)

FLOW = "stock_price"
PATCH_LIMIT = 5  # more changes than this in one marketplace go as one feed
FEED_POLL = timedelta(seconds=30)  # simulated seconds between getFeed calls
FEED_PATIENCE = timedelta(minutes=30)  # then the feed's report is read on the next run


def wanted(level: StockLevel, listing: ListingState, currency: str) -> ListingUpdate | None:
    """The update that makes ``listing`` show ``level``, or None when it already does.
    The key is filled in later (it depends on the store's counters)."""
    quantity = level.quantity if listing.quantity is not None else None  # None: FBA manages stock
    price = level.price.quantized() if level.price is not None and level.price.currency == currency else None
    if quantity is not None and listing.quantity == quantity:
        quantity = None  # send only the values that differ
    if price is not None and listing.price is not None and listing.price.quantized() == price:
        price = None
    if quantity is None and price is None:
        return None
    return ListingUpdate("", level.sku, listing.marketplace_id, quantity, price)


class Counters:
    """The per-listing and per-feed sequence numbers, kept as JSON in the flow's cursor."""

    def __init__(self, ctx: FlowContext) -> None:
        self._ctx = ctx
        raw = ctx.store.get_cursor(ctx.name, FLOW)
        data = json.loads(raw) if raw else {}
        self.listings: dict[str, int] = dict(data.get("listings") or {})
        self.feeds: dict[str, int] = dict(data.get("feeds") or {})
        self.pending_feeds: dict[str, dict[str, Any]] = dict(data.get("pending_feeds") or {})

    def next_key(self, counters: dict[str, int], name: str, prefix: str, kind: str) -> str:
        number = counters.get(name, 0) + 1
        while True:
            key = f"{prefix}-{name}-{number}"
            record = self._ctx.store.find_record(self._ctx.name, kind, key)
            if record is None or record.state not in DONE_STATES:
                counters[name] = number
                return key
            number += 1

    def save(self) -> None:
        data = {"listings": self.listings, "feeds": self.feeds, "pending_feeds": self.pending_feeds}
        self._ctx.store.set_cursor(self._ctx.name, FLOW, json.dumps(data, sort_keys=True))


def erp_levels(ctx: FlowContext) -> dict[str, StockLevel]:
    """The ERP's level per mapped SKU. The SKUs come from the items flow's map (without an items
    run yet, the listings' SKUs are resolved now); a SKU the items flow matched through its ASIN is
    read by that ASIN (the ERP's alias) and labelled with the SKU again."""
    stored = items_flow.stored_map(ctx.store, ctx.name)
    if stored is None:
        resolved, via_asin = items_flow.resolve(ctx, items_flow.collect_skus(ctx))
    else:
        resolved, via_asin = stored.get("items") or {}, stored.get("via_asin") or {}
    direct = sorted(sku for sku, item in resolved.items() if item and sku not in via_asin)
    levels = {level.sku: level for level in ctx.target.stock_levels(direct)} if direct else {}
    if via_asin:
        by_asin = {level.sku: level for level in ctx.target.stock_levels(sorted(set(via_asin.values())))}
        for sku, asin in via_asin.items():
            if asin in by_asin:
                levels[sku] = dataclasses.replace(by_asin[asin], sku=sku)
    return levels


def run(ctx: FlowContext) -> FlowSummary:
    summary = FlowSummary(FLOW, ctx.name)
    engine = ctx.engine(FLOW)
    counters = Counters(ctx)
    _settle_leftovers(ctx, engine, counters, summary)
    _collect_pending_feeds(ctx, engine, counters, summary)
    levels = erp_levels(ctx)
    summary.facts["skus"] = len(levels)
    for marketplace_id in ctx.connection.marketplaces:
        currency = ctx.marketplace(marketplace_id).currency
        shown = {(s.sku, marketplace_id): s for s in ctx.amazon.list_listings(marketplace_id)}
        changes = []
        skipped_prices = 0
        for sku, level in sorted(levels.items()):
            listing = shown.get((sku, marketplace_id))
            if listing is None:
                summary.count("no_listing")
                continue
            if level.price is not None and level.price.currency != currency:
                skipped_prices += 1
            update = wanted(level, listing, currency)
            if update is None:
                summary.count("unchanged")
            else:
                changes.append(update)
        if skipped_prices:
            summary.notes.append(
                f"{marketplace_id}: {skipped_prices} ERP prices are not in {currency}; only quantities pushed"
            )
        states = ListingStates(ctx.amazon, shown)
        if len(changes) > PATCH_LIMIT:
            _push_feed(ctx, engine, counters, marketplace_id, changes, states, summary)
        else:
            _push_patches(ctx, engine, counters, changes, states, summary)
        counters.save()
    summary.facts["amazon_calls"] = dict(ctx.amazon.calls)
    return summary


def _keyed(counters: Counters, update: ListingUpdate) -> ListingUpdate:
    name = f"{update.marketplace_id}-{update.sku}"
    key = counters.next_key(counters.listings, name, "LST", LISTING_UPDATE)
    return ListingUpdate(key, update.sku, update.marketplace_id, update.quantity, update.price)


def _count(result: PostingResult, update: ListingUpdate, summary: FlowSummary) -> None:
    if result.state in DONE_STATES:
        summary.count("updated")
    else:
        summary.count(result.state)
        if result.error:
            summary.notes.append(f"{update.marketplace_id} {update.sku}: {result.error}")


def _push_patches(
    ctx: FlowContext,
    engine: PostingEngine,
    counters: Counters,
    changes: list[ListingUpdate],
    states: ListingStates,
    summary: FlowSummary,
) -> None:
    target = ListingUpdateTarget(ctx.amazon, states)
    for change in changes:
        update = _keyed(counters, change)
        _count(engine.post(update, target, source=update.snapshot()), update, summary)


def _push_feed(
    ctx: FlowContext,
    engine: PostingEngine,
    counters: Counters,
    marketplace_id: str,
    changes: list[ListingUpdate],
    states: ListingStates,
    summary: FlowSummary,
) -> None:
    updates = tuple(_keyed(counters, change) for change in changes)
    key = counters.next_key(counters.feeds, marketplace_id, "FEED", LISTINGS_FEED)
    feed = ListingsFeed(key, marketplace_id, updates)
    source = {"marketplace_id": marketplace_id, "updates": [u.snapshot() | {"key": u.key} for u in updates]}
    result = engine.post(feed, ListingsFeedTarget(ctx.amazon, states), source=source)
    summary.facts.setdefault("feeds", []).append(
        {"key": key, "state": result.state, "feed_id": result.erp_id}
    )
    if result.state == "posted" and result.erp_id:
        report = _await_report(ctx, result.erp_id)
        if report is None:
            counters.pending_feeds[result.erp_id] = source
            summary.count("waiting", len(updates))
            summary.notes.append(
                f"feed {result.erp_id} is still being processed; its report is read next run"
            )
            return
        _record_report(engine, FeedReport.read(result.erp_id, report), updates, summary)
    elif result.state == "found_existing":
        summary.count("updated", len(updates))  # Amazon shows every value already
    else:
        summary.count(result.state, len(updates))
        summary.notes.append(f"feed {key}: {result.error or result.state}")


def _await_report(ctx: FlowContext, feed_id: str) -> dict | None:
    waited = timedelta(0)
    while True:
        report = ctx.amazon.get_feed_result(feed_id)
        if report is not None or waited >= FEED_PATIENCE:
            return report
        ctx.clock.sleep(FEED_POLL.total_seconds())
        waited += FEED_POLL


def _record_report(
    engine: PostingEngine, report: FeedReport, updates: tuple[ListingUpdate, ...], summary: FlowSummary
) -> None:
    target = FeedResultTarget(report)
    for update in updates:
        _count(engine.post(update, target, source=update.snapshot()), update, summary)


def _collect_pending_feeds(
    ctx: FlowContext, engine: PostingEngine, counters: Counters, summary: FlowSummary
) -> None:
    """Feeds an earlier run left processing: record their reports now."""
    for feed_id, source in list(counters.pending_feeds.items()):
        report = ctx.amazon.get_feed_result(feed_id)
        if report is None:
            continue
        updates = tuple(_update_from(item) for item in source.get("updates") or ())
        _record_report(engine, FeedReport.read(feed_id, report), updates, summary)
        del counters.pending_feeds[feed_id]
    counters.save()


def _settle_leftovers(
    ctx: FlowContext, engine: PostingEngine, counters: Counters, summary: FlowSummary
) -> None:
    """Updates and feeds a killed or deferred run left pending are asked about again (Amazon may
    show them already: found; else they are sent again, and this run's comparison corrects any
    value the ERP changed since), so no record stays pending and no key is orphaned."""
    for record in ctx.store.records(connection=ctx.name, state="pending", flow=FLOW):
        source = record.source if isinstance(record.source, dict) else {}
        fresh = ListingStates(ctx.amazon, {})  # nothing cached: Amazon is read again
        if record.kind == LISTING_UPDATE and source.get("sku"):
            update = _update_from(source | {"key": record.key})
            result = engine.post(update, ListingUpdateTarget(ctx.amazon, fresh), source=source)
            _count(result, update, summary)
        elif record.kind == LISTINGS_FEED and source.get("updates"):
            updates = tuple(_update_from(item) for item in source["updates"])
            feed = ListingsFeed(record.key, source["marketplace_id"], updates)
            result = engine.post(feed, ListingsFeedTarget(ctx.amazon, fresh), source=source)
            if result.state == "posted" and result.erp_id:
                counters.pending_feeds[result.erp_id] = source  # its report is read below or next run
            elif result.state == "found_existing":
                summary.count("updated", len(updates))


def _update_from(snapshot: dict[str, Any]) -> ListingUpdate:
    from ml_connector.model.money import Money

    price = Money.of(snapshot["price"], snapshot["currency"]) if snapshot.get("price") else None
    return ListingUpdate(
        snapshot.get("key", ""), snapshot["sku"], snapshot["marketplace_id"], snapshot.get("quantity"), price
    )


def _rebuild_update(store: Store, record, source) -> tuple[ListingUpdate, ClosingTarget]:
    """Replay sends what the ERP says now (not the stale values), under the record's key."""
    ctx = context_for_record(store, store.connection_name(record.connection_id))
    try:
        old = _update_from(source | {"key": record.key})
        levels = ctx.target.stock_levels([old.sku])
        if not levels:
            raise PermanentError(f"SKU {old.sku} has no ERP item any more; run the items flow")
        listing = ctx.amazon.get_listing_state(old.sku, old.marketplace_id)
        currency = ctx.marketplace(old.marketplace_id).currency
        change = wanted(levels[0], listing, currency)
        if change is None:  # Amazon shows the ERP's values already: found, nothing sent
            change = ListingUpdate("", old.sku, old.marketplace_id, listing.quantity, listing.price)
        update = ListingUpdate(record.key, old.sku, old.marketplace_id, change.quantity, change.price)
        target = ListingUpdateTarget(
            ctx.amazon, ListingStates(ctx.amazon, {(old.sku, old.marketplace_id): listing})
        )
    except BaseException:
        ctx.close()
        raise
    return update, ClosingTarget(ctx, target)


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {LISTING_UPDATE: _rebuild_update}
