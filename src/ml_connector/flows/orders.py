"""The orders flow: Amazon orders become ERP sales documents, each exactly once.

Incremental over searchOrders (Orders 2026-01-01, items inline: one call per hundred orders, not one
per order). After each page the cursor holds where the search goes on (the window and Amazon's page
token); after the last page, the watermark Amazon echoes (which honours the two-minute rule).
The accounting mode decides the document: a sales order in summary mode (the settlement recognises
the revenue), a sales invoice in invoice mode (the settlement then clears its receivable), so no
revenue is counted twice. An order whose SKU has no ERP item fails alone, naming the SKU.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ml_connector.engine.replay import register_rebuilder
from ml_connector.engine.store import Store
from ml_connector.errors import PermanentError, TransientError
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.flows.documents import (
    UnmappedSkus,
    buyer_customer,
    decide,
    marketplace_customer,
    sales_document,
)
from ml_connector.model.documents import CustomerDocument, SalesDocument
from ml_connector.model.orders import Order
from ml_connector.sources.amazon.order_pages import OrderPosition

FLOW = "orders"
DONE = ("posted", "found_existing")


def document_kind(ctx: FlowContext) -> str:
    return "sales_invoice" if ctx.connection.mode == "invoice" else "sales_order"


def order_snapshot(order: Order) -> dict[str, Any]:
    """What the audit trail keeps of an order (no buyer PII) and what later flows read."""
    return {
        "amazon_order_id": order.amazon_order_id,
        "marketplace_id": order.marketplace_id,
        "status": order.status,
        "fulfillment_channel": order.fulfillment_channel,
        "purchase_date": order.purchase_date.isoformat(),
        "currency": order.currency,
        "items": [
            {
                "order_item_id": item.order_item_id,
                "sku": item.sku,
                "asin": item.asin,
                "quantity": item.quantity,
                "item_price": item.item_price.as_string(),
            }
            for item in order.items
        ],
    }


class OrderPoster:
    """Turns orders into posted documents, caching customers and SKU resolutions for one run."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.engine = ctx.engine(FLOW)
        self.kind = document_kind(ctx)
        self.items: dict[str, str | None] = {}
        self.customers: dict[str, str] = {}

    def resolve(self, orders: list[Order]) -> None:
        skus = sorted({item.sku for order in orders for item in order.items} - set(self.items))
        if skus:
            self.items.update(self.ctx.target.resolve_items(skus))

    def customer_for(self, order: Order) -> str:
        if self.ctx.connection.customer_mode == "buyer":
            document = buyer_customer(order)
        else:
            market = self.ctx.marketplace(order.marketplace_id)
            document = marketplace_customer(
                market.marketplace_id, market.country_code, market.name, market.currency
            )
        if document.key not in self.customers:
            self.customers[document.key] = self._post_customer(document)
        return self.customers[document.key]

    def _post_customer(self, document: CustomerDocument) -> str:
        result = self.engine.post(
            document, self.ctx.target, source={"key": document.key, "name": document.name}
        )
        if result.state in DONE and result.erp_id:
            return result.erp_id
        if result.state == "failed":
            raise PermanentError(f"customer {document.key} could not be created: {result.error}")
        raise TransientError(f"customer {document.key} is not posted yet (retried on the next run)")

    def document(self, order: Order) -> SalesDocument:
        self.resolve([order])
        return sales_document(
            order,
            customer_id=self.customer_for(order),
            items=self.items,
            kind=self.kind,  # type: ignore[arg-type]
            warehouse=self.ctx.connection.erp_settings.get("warehouse") or None,
        )

    def post(self, order: Order, summary: FlowSummary) -> None:
        snapshot = order_snapshot(order)
        try:
            document = self.document(order)
        except UnmappedSkus as exc:
            self.engine.fail(self.kind, order.amazon_order_id, str(exc), source=snapshot)
            summary.count("failed")
            summary.notes.append(str(exc))
            return
        except PermanentError as exc:
            self.engine.fail(self.kind, order.amazon_order_id, exc.target_message, source=snapshot)
            summary.count("failed")
            return
        except TransientError:
            summary.count("pending")
            return
        result = self.engine.post(document, self.ctx.target, source=snapshot)
        summary.count(result.outcome)
        if result.state == "failed":
            summary.notes.append(f"order {order.amazon_order_id}: {result.error}")


def run(ctx: FlowContext) -> FlowSummary:
    """Page by page: each page's orders are posted, then the position after it is stored, so at
    most one page is held and a run killed anywhere goes on, next time, at the page it was on."""
    summary = FlowSummary(FLOW, ctx.name)
    since, resume = start_position(ctx)
    pii = ctx.connection.customer_mode == "buyer"  # buyer PII only in the mode that needs it
    poster = OrderPoster(ctx)
    seen = 0
    ctx.progress.start(f"orders {ctx.name}")
    post_left_pending(ctx, poster, summary)
    for page in ctx.amazon.search_orders(ctx.connection.marketplaces, since, resume=resume, pii=pii):
        poster.resolve([order for order in page.orders if decide(order).action == "post"])
        for order in page.orders:
            handle(ctx, poster, order, summary)
            ctx.progress.advance()
        seen += len(page.orders)
        ctx.store.set_cursor(ctx.name, FLOW, page.cursor())
        if ctx.checkpoint is not None:
            ctx.checkpoint("page_done")
    ctx.progress.finish()
    summary.facts["orders_seen"] = seen
    summary.facts["customers"] = sorted(set(poster.customers.values()))
    return summary


def handle(ctx: FlowContext, poster: OrderPoster, order: Order, summary: FlowSummary) -> None:
    decision = decide(order)
    if decision.action == "post":
        poster.post(order, summary)
    elif decision.action == "wait":
        summary.count("waiting")
    else:
        _skip(ctx, poster, order, summary)


def post_left_pending(ctx: FlowContext, poster: OrderPoster, summary: FlowSummary) -> None:
    """Orders an earlier run left pending (killed while posting one, or deferred by an ERP that
    stayed unavailable) are fetched again and handled first: the cursor has moved past their page.
    One still claimed by a live run stays pending, for a later run."""
    pii = ctx.connection.customer_mode == "buyer"
    for record in ctx.store.records(connection=ctx.name, state="pending", flow=FLOW):
        if record.kind != poster.kind:
            continue  # customers are posted with their orders; a kind of another mode is replayed
        handle(ctx, poster, ctx.amazon.get_order(record.key, pii=pii), summary)
        summary.count("retried_pending")


def start_position(ctx: FlowContext) -> tuple[datetime, OrderPosition | None]:
    """Where this run starts: `sync --since`, else the stored cursor (a finished window's
    watermark, or the page a run stopped at), else the connection's first-run start."""
    stored = ctx.store.get_cursor(ctx.name, FLOW)
    if ctx.since is not None:
        return ctx.since, None
    if stored and stored.startswith("{"):
        position = OrderPosition.from_json(stored)
        return position.after, position
    if stored:
        return datetime.fromisoformat(stored), None
    return ctx.connection.first_run_since(ctx.clock.now()), None


def _skip(ctx: FlowContext, poster: OrderPoster, order: Order, summary: FlowSummary) -> None:
    """A canceled order is never posted; one canceled after it was posted is flagged for a person
    (reversing an ERP document is an accounting decision the connector does not take alone)."""
    record = ctx.store.find_record(ctx.name, poster.kind, order.amazon_order_id)
    if record is not None and record.state in DONE:
        ctx.store.add_event(
            record.id,
            "canceled_after_posting",
            message=f"Amazon canceled order {order.amazon_order_id} after it was posted as {record.erp_id}; "
            "cancel or credit it in the ERP",
        )
        summary.count("canceled_after_posting")
        summary.notes.append(f"order {order.amazon_order_id} was canceled after posting ({record.erp_id})")
    else:
        summary.count("skipped")


def _rebuild_order(store: Store, record, source) -> tuple[SalesDocument, Any]:
    """Replay fetches the order again (fresh status, PII through an RDT only in buyer mode) and
    resolves its SKUs against the ERP as it is now."""
    ctx = context_for_record(store, store.connection_name(record.connection_id))
    try:
        order = ctx.amazon.get_order(record.key, pii=ctx.connection.customer_mode == "buyer")
        document = OrderPoster(ctx).document(order)
    except BaseException:
        ctx.close()
        raise
    return document, ClosingTarget(ctx)


register_rebuilder("sales_order", _rebuild_order)
register_rebuilder("sales_invoice", _rebuild_order)
