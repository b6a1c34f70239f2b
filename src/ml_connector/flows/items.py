"""The items flow: every SKU the seller sells on Amazon matched to its ERP item.

SKUs (with their ASINs) come from the listings of the connection's marketplaces (searchListingsItems,
twenty a call) and from the orders already recorded. A SKU is matched by itself first (ERP alias /
cross-reference / the connection's sku_map), then by its ASIN where the ERP keeps ASINs as aliases
(one more bulk lookup, only for the SKUs still unmatched). Each SKU gets a record keyed by the SKU: a
matched one is recorded with its ERP item as the record's ERP id (found in the ERP, nothing
written), an unmatched one fails alone, naming the closest ERP items, so a person can map it and
replay just that record. The whole map is also kept as JSON in the store (cursor "items"), where the
stock & price flow reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ml_connector.engine.store import Store
from ml_connector.errors import PermanentError
from ml_connector.flows.context import FlowContext, FlowSummary, context_for_record

FLOW = "items"
KIND = "sku_item"
ORDER_KINDS = ("sales_order", "sales_invoice")


@dataclass(frozen=True, slots=True)
class SkuDocument:
    """A SKU to match; nothing is written to the ERP: ``find`` is the whole job."""

    key: str  # the SKU
    asin: str | None = None
    kind: str = KIND


class ItemResolver:
    """The ERP's answer for SKUs resolved together (one bulk lookup), as a posting target."""

    def __init__(self, ctx: FlowContext, resolved: dict[str, str | None]) -> None:
        self._ctx = ctx
        self._resolved = dict(resolved)

    def find(self, document: SkuDocument) -> str | None:
        if document.key not in self._resolved:
            found, _ = resolve(self._ctx, {document.key: document.asin})
            self._resolved.update(found)
        item = self._resolved.get(document.key)
        if item is None:
            raise PermanentError(unmatched_message(self._ctx, document))
        return item

    def post(self, document: SkuDocument) -> str:  # never reached: find answers or raises
        raise PermanentError(unmatched_message(self._ctx, document))

    def close(self) -> None:  # replay only: the rebuilt context's sessions
        self._ctx.close()


def unmatched_message(ctx: FlowContext, document: SkuDocument) -> str:
    candidates = ctx.target.item_candidates(document.key)
    asin = f" (ASIN {document.asin})" if document.asin else ""
    closest = f"closest ERP items: {', '.join(candidates)}" if candidates else "no ERP item is close"
    return (
        f"SKU {document.key}{asin} has no ERP item; {closest}. Map it (an ERP alias / cross-reference, "
        "or the connection's sku_map) and replay this record"
    )


def collect_skus(ctx: FlowContext) -> dict[str, str | None]:
    """SKU -> ASIN from the listings of every marketplace of the connection, plus the SKUs of
    recorded orders (an order may name a SKU that no longer has a listing)."""
    skus: dict[str, str | None] = {}
    for marketplace_id in ctx.connection.marketplaces:
        for listing in ctx.amazon.list_listings(marketplace_id):
            if not skus.get(listing.sku):
                skus[listing.sku] = listing.asin
    # the distinct SKUs of the order records (kinds ORDER_KINDS), kept by the store (order_skus)
    for sku, asin in ctx.store.order_skus(ctx.name).items():
        if not skus.get(sku):
            skus[sku] = asin
    return skus


def resolve(ctx: FlowContext, skus: dict[str, str | None]) -> tuple[dict[str, str | None], dict[str, str]]:
    """SKU -> ERP item (None: unmatched), and the SKUs matched through their ASIN (SKU -> ASIN)."""
    resolved = dict(ctx.target.resolve_items(sorted(skus))) if skus else {}
    by_asin = {sku: asin for sku, asin in skus.items() if asin and not resolved.get(sku)}
    via_asin: dict[str, str] = {}
    if by_asin:
        items = ctx.target.resolve_items(sorted(set(by_asin.values())))
        for sku, asin in by_asin.items():
            if items.get(asin):
                resolved[sku] = items[asin]
                via_asin[sku] = asin
    return resolved, via_asin


def stored_map(store: Store, connection: str) -> dict[str, Any] | None:
    """The last items run's map: {"items": {sku: item|None}, "asins": {sku: asin},
    "via_asin": {sku: asin} for the SKUs matched through their ASIN}."""
    raw = store.get_cursor(connection, FLOW)
    return json.loads(raw) if raw else None


def run(ctx: FlowContext) -> FlowSummary:
    summary = FlowSummary(FLOW, ctx.name)
    skus = collect_skus(ctx)
    resolved, via_asin = resolve(ctx, skus)
    engine = ctx.engine(FLOW)
    resolver = ItemResolver(ctx, resolved)
    items: dict[str, str | None] = {}
    ctx.progress.start(f"items {ctx.name}", len(skus))
    for sku in sorted(skus):
        document = SkuDocument(sku, skus[sku])
        source = {"sku": sku, "asin": skus[sku]}
        item = resolved.get(sku)
        if item:  # the map follows the ERP's answer; the record is the SKU's audit trail
            engine.post(document, resolver, source=source)
            items[sku] = item
            summary.count("mapped")
            if sku in via_asin:
                summary.count("mapped_by_asin")
        else:
            message = unmatched_message(ctx, document)
            engine.fail(KIND, sku, message, source=source)
            items[sku] = None
            summary.count("unmapped")
            summary.notes.append(message)
        ctx.progress.advance()
    ctx.progress.finish()
    ctx.store.set_cursor(
        ctx.name,
        FLOW,
        json.dumps(
            {
                "items": items,
                "asins": skus,
                "via_asin": via_asin,
                "updated": ctx.clock.now().isoformat(),
            },
            sort_keys=True,
        ),
    )
    summary.facts["items"] = items
    summary.facts["via_asin"] = via_asin
    summary.facts["unmapped"] = sorted(sku for sku, item in items.items() if not item)
    summary.facts["amazon_calls"] = dict(ctx.amazon.calls)
    return summary


def _rebuild_sku(store: Store, record, source) -> tuple[SkuDocument, ItemResolver]:
    """Replay resolves the SKU against the ERP as it is now (after someone mapped it)."""
    ctx = context_for_record(store, store.connection_name(record.connection_id))
    asin = source.get("asin") if isinstance(source, dict) else None
    return SkuDocument(record.key, asin), ItemResolver(ctx, {})


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {KIND: _rebuild_sku}
