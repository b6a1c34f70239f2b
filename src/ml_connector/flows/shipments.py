"""The shipments flow: seller-fulfilled orders shipped in the ERP confirmed to Amazon, once each.

The ERP says what left the warehouse since the cursor (M3 delivered order lines with MWS410 carrier
and tracking; Acumatica confirmed Shipments). Only Amazon orders the seller ships itself (MFN) are
confirmed: the orders flow's record of the order says which channel it came from (Amazon is asked
only for an order the store has never seen). Each package is one posting keyed
"SHIP-<order id>-<tracking>", so a rerun, an overlapping window or a second worker confirms nothing
twice; Amazon's own "Shipped" status is the query-first answer.

The cursor is the run's start less a small overlap (ERP clocks and M3's minute resolution), held
back to the oldest shipment left pending so a deferred confirmation is read again.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.errors import PermanentError
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.model.orders import ShipmentConfirmation
from ml_connector.targets.amazon.shipments import (
    SHIPMENT_CONFIRMATION,
    ShipmentConfirmationTarget,
    ShipmentDocument,
)

FLOW = "shipments"
OVERLAP = timedelta(minutes=10)
ORDER_KINDS = ("sales_order", "sales_invoice")
AMAZON_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")


class OrderFacts:
    """Channel and marketplace of Amazon orders: from the orders flow's records, else from Amazon."""

    def __init__(self, ctx: FlowContext) -> None:
        self._ctx = ctx
        self._known: dict[str, dict[str, Any] | None] = {}

    def of(self, order_id: str) -> dict[str, Any] | None:
        if order_id not in self._known:
            self._known[order_id] = self._lookup(order_id)
        return self._known[order_id]

    def _lookup(self, order_id: str) -> dict[str, Any] | None:
        for kind in ORDER_KINDS:
            record = self._ctx.store.find_record(self._ctx.name, kind, order_id)
            if (
                record is not None
                and isinstance(record.source, dict)
                and record.source.get("fulfillment_channel")
            ):
                return record.source
        if not AMAZON_ORDER_ID.fullmatch(order_id):
            return None  # an ERP order with a customer reference that is no Amazon order id
        try:
            order = self._ctx.amazon.get_order(order_id)
        except PermanentError:
            return None  # Amazon does not know it for this seller (404): not ours to confirm
        if order.marketplace_id not in self._ctx.connection.marketplaces:
            return None  # another seller account's order, or not an Amazon order at all
        return {"fulfillment_channel": order.fulfillment_channel, "marketplace_id": order.marketplace_id}


def run(ctx: FlowContext) -> FlowSummary:
    summary = FlowSummary(FLOW, ctx.name)
    started = ctx.clock.now()
    stored = ctx.store.get_cursor(ctx.name, FLOW)
    since = ctx.since or (
        datetime.fromisoformat(stored) if stored else ctx.connection.first_run_since(started)
    )
    confirmations = list(ctx.target.shipped_orders(since))
    engine = ctx.engine(FLOW)
    target = ShipmentConfirmationTarget(ctx.amazon)
    facts = OrderFacts(ctx)
    held_back: datetime | None = None
    ctx.progress.start(f"shipments {ctx.name}", len(confirmations))
    for confirmation in confirmations:
        ctx.progress.advance()
        if not confirmation.tracking_number.strip():
            summary.count("waiting")
            summary.notes.append(
                f"order {confirmation.amazon_order_id}: shipped without a tracking number yet"
            )
            continue
        known = ShipmentDocument.of(confirmation)
        record = ctx.store.find_record(ctx.name, SHIPMENT_CONFIRMATION, known.key)
        if record is not None and record.state in DONE_STATES:
            summary.count("already_confirmed")  # the window overlaps: no call at all
            continue
        order = facts.of(confirmation.amazon_order_id)
        if order is None or order.get("fulfillment_channel") != "MFN":
            summary.count("skipped")  # Amazon ships its own (AFN) orders; not ours to confirm
            continue
        confirmation = _complete(confirmation, order)
        document = ShipmentDocument.of(confirmation)
        result = engine.post(document, target, source=document.snapshot())
        if result.state == "posted":
            summary.count("confirmed")
        elif result.state == "found_existing":
            summary.count("already_confirmed")
        else:
            summary.count(result.state)
            summary.notes.append(f"order {confirmation.amazon_order_id}: {result.error or result.state}")
            if result.state == "pending":
                held_back = min(held_back or confirmation.ship_date, confirmation.ship_date)
    ctx.progress.finish()
    cursor = started - OVERLAP
    if held_back is not None:
        cursor = min(cursor, held_back - OVERLAP)
    if ctx.since is None:
        ctx.store.set_cursor(ctx.name, FLOW, cursor.isoformat())
    summary.facts["shipments_seen"] = len(confirmations)
    summary.facts["amazon_calls"] = dict(ctx.amazon.calls)
    return summary


def _complete(confirmation: ShipmentConfirmation, order: dict[str, Any]) -> ShipmentConfirmation:
    """The marketplace from the order when the ERP did not keep it (Amazon needs it)."""
    if confirmation.marketplace_id or not order.get("marketplace_id"):
        return confirmation
    return ShipmentConfirmation(
        amazon_order_id=confirmation.amazon_order_id,
        marketplace_id=str(order["marketplace_id"]),
        carrier=confirmation.carrier,
        tracking_number=confirmation.tracking_number,
        ship_date=confirmation.ship_date,
        items=confirmation.items,
        shipping_method=confirmation.shipping_method,
    )


def _rebuild_shipment(store: Store, record, source) -> tuple[ShipmentDocument, ClosingTarget]:
    """Replay confirms the stored package (carrier, tracking, items) again under the same key."""
    confirmation = ShipmentConfirmation(
        amazon_order_id=source["amazon_order_id"],
        marketplace_id=source["marketplace_id"],
        carrier=source["carrier"],
        tracking_number=source["tracking_number"],
        ship_date=datetime.fromisoformat(source["ship_date"]),
        items=tuple((str(item_id), int(qty)) for item_id, qty in source["items"]),
        shipping_method=source.get("shipping_method"),
    )
    ctx = context_for_record(store, store.connection_name(record.connection_id))
    return ShipmentDocument.of(confirmation), ClosingTarget(ctx, ShipmentConfirmationTarget(ctx.amazon))


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {SHIPMENT_CONFIRMATION: _rebuild_shipment}
