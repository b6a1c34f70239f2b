"""The orders flow: Amazon orders become ERP sales documents, each exactly once.

Incremental over searchOrders (Orders 2026-01-01, items inline: one call per hundred orders, not one
per order). After each page the cursor holds where the search goes on (the window and Amazon's page
token); after the last page, the watermark Amazon echoes (which honours the two-minute rule).
The accounting mode decides the document: a sales order in summary mode (the settlement recognises
the revenue), a sales invoice in invoice mode (the settlement then clears its receivable), so no
revenue is counted twice. An order whose SKU has no ERP item fails alone, naming the SKU.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from ml_connector.engine.models import Record
from ml_connector.engine.store import Store
from ml_connector.errors import PermanentError, TransientError
from ml_connector.flows import items as items_flow
from ml_connector.flows.context import ClosingTarget, FlowContext, FlowSummary, context_for_record
from ml_connector.flows.documents import (
    UnmappedSkus,
    buyer_customer,
    decide,
    marketplace_customer,
    sales_document,
)
from ml_connector.model.documents import CreditNoteDocument, CustomerDocument, SalesDocument
from ml_connector.model.money import Money
from ml_connector.model.orders import Order, OrderItem
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
        self._mapped: dict[str, str | None] | None = None  # the items flow's map, read once per run

    def resolve(self, orders: list[Order]) -> None:
        """Each SKU's ERP item: the one the items flow matched (by alias, cross-reference, sku_map
        or ASIN, kept in its map), else the ERP's answer now (the SKU, then its ASIN)."""
        wanted = {
            item.sku: item.asin for order in orders for item in order.items if item.sku not in self.items
        }
        if not wanted:
            return
        if self._mapped is None:
            self._mapped = (items_flow.stored_map(self.ctx.store, self.ctx.name) or {}).get("items") or {}
        for sku in list(wanted):
            if self._mapped.get(sku):
                self.items[sku] = self._mapped[sku]
                del wanted[sku]
        if wanted:
            found, _ = items_flow.resolve(self.ctx, wanted)
            self.items.update({sku: found.get(sku) for sku in wanted})

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

    def credit(self, order: Order, invoice: Record, summary: FlowSummary) -> None:
        """The invoice of an order Amazon canceled afterwards is credited in full, through the
        posting protocol under the order's key (kind ``credit_note``), so exactly once. Where the
        ERP cannot take a credit note the record fails with the amount named, for a person."""
        source = invoice.source if isinstance(invoice.source, dict) else {}
        snapshot = {**order_snapshot(order), "invoice": invoice.erp_id, "credited_items": source.get("items")}
        try:
            document = credit_note(self, order, invoice)
        except (UnmappedSkus, PermanentError) as exc:
            message = f"order {order.amazon_order_id} was canceled after invoice {invoice.erp_id}: {exc}"
            self.engine.fail("credit_note", order.amazon_order_id, message, source=snapshot)
            summary.count("failed")
            summary.notes.append(message)
            return
        except TransientError:
            summary.count("pending")
            return
        result = self.engine.post(document, self.ctx.target, source=snapshot)
        summary.count("credit_note_" + result.outcome)
        total = document.total
        if result.state == "failed":
            summary.notes.append(
                f"order {order.amazon_order_id}: credit note of {total.amount} {total.currency} "
                f"for invoice {invoice.erp_id} not posted: {result.error}"
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
        snapshot["customer_id"] = document.customer_id  # what a credit note needs if it comes to that
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
        order = ctx.amazon.get_order(record.key, pii=pii)
        summary.count("retried_pending")
        if decide(order).action == "skip":  # canceled meanwhile: settle it, or it is asked about forever
            poster.engine.fail(
                record.kind,
                record.key,
                f"Amazon canceled order {record.key} ({order.status}) before it was posted; "
                "nothing was written to the ERP",
            )
            summary.count("canceled_before_posting")
            continue
        handle(ctx, poster, order, summary)


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
    """A canceled order is never posted. One canceled after its invoice was posted (invoice mode:
    revenue) gets a credit note; one canceled after its sales order (summary mode: no revenue) is
    flagged for a person, who cancels the ERP order (stock and fulfilment are the ERP's to decide)."""
    record = ctx.store.find_record(ctx.name, poster.kind, order.amazon_order_id)
    if record is None or record.state not in DONE:
        summary.count("skipped")
        return
    if poster.kind == "sales_invoice":
        poster.credit(order, record, summary)
        return
    ctx.store.add_event(
        record.id,
        "canceled_after_posting",
        message=f"Amazon canceled order {order.amazon_order_id} after it was posted as {record.erp_id}; "
        "cancel it in the ERP",
    )
    summary.count("canceled_after_posting")
    summary.notes.append(f"order {order.amazon_order_id} was canceled after posting ({record.erp_id})")


def credit_note(poster: OrderPoster, order: Order, invoice: Record) -> CreditNoteDocument:
    """The credit note of a canceled order's invoice: the lines as they were invoiced (from the
    invoice record's snapshot; Amazon may show a canceled order without its prices)."""
    source = invoice.source if isinstance(invoice.source, dict) else {}
    items = source.get("items") or []
    if not items or not invoice.erp_id:
        raise PermanentError("its invoice record keeps no lines to credit; credit it in the ERP by hand")
    currency = source.get("currency") or order.currency
    invoiced = [
        OrderItem(
            order_item_id=item.get("order_item_id") or "",
            sku=item["sku"],
            asin=item.get("asin"),
            quantity=int(item["quantity"]),
            unit_price=Money(Decimal(item["item_price"]) / int(item["quantity"]), currency),
            item_price=Money(Decimal(item["item_price"]), currency),
        )
        for item in items
    ]
    as_invoiced = dataclasses.replace(order, items=tuple(invoiced), status="Shipped")
    poster.resolve([as_invoiced])
    document = sales_document(
        as_invoiced,
        # the invoice's own customer (a canceled order may come back without the buyer's details)
        customer_id=source.get("customer_id") or poster.customer_for(order),
        items=poster.items,
        kind="sales_invoice",
    )
    return CreditNoteDocument(
        key=order.amazon_order_id,
        invoice_id=invoice.erp_id,
        customer_id=document.customer_id,
        currency=document.currency,
        order_date=document.order_date,
        lines=document.lines,
        description=f"Amazon order {order.amazon_order_id} canceled: credit of invoice {invoice.erp_id}",
    )


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


def _rebuild_credit_note(store: Store, record, source) -> tuple[CreditNoteDocument, Any]:
    """Replay builds the credit note again from the order's invoice record (after, say, a SKU was
    mapped), under the same key."""
    ctx = context_for_record(store, store.connection_name(record.connection_id))
    try:
        invoice = store.find_record(ctx.name, "sales_invoice", record.key)
        if invoice is None or invoice.state not in DONE:
            raise PermanentError(f"order {record.key} has no posted invoice to credit")
        order = ctx.amazon.get_order(record.key, pii=ctx.connection.customer_mode == "buyer")
        document = credit_note(OrderPoster(ctx), order, invoice)
    except BaseException:
        ctx.close()
        raise
    return document, ClosingTarget(ctx)


# replay rebuilds this flow's failed records from their stored source (flows/registry.py installs them)
REBUILDERS = {
    "sales_order": _rebuild_order,
    "sales_invoice": _rebuild_order,
    "credit_note": _rebuild_credit_note,
}
