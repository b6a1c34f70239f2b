"""The scheduled reconcile flow: every stored settlement that has not tied yet, and the month ends."""

from __future__ import annotations

import json

from ml_connector.flows.context import FlowContext, FlowSummary
from ml_connector.flows.reconcile.gather import (
    month_ends,
    reconcile,
    reconcile_month_ends,
    settlement_ids,
    stored_report,
)

FLOW = "reconcile"


def tied_before(ctx: FlowContext, settlement_id: str) -> bool:
    record = ctx.store.find_record(ctx.name, "settlement", settlement_id)
    if record is None:
        return False
    events = [e for e in ctx.store.audit_trail(record.id) if e.event == "reconciled"]
    return bool(events) and bool((events[-1].payload or {}).get("ties"))


def _tied_months(ctx: FlowContext) -> set[str]:
    """Month ends that tied once (the scheduled flow does not ask Amazon about them again)."""
    stored = ctx.store.get_cursor(ctx.name, FLOW)
    return set(json.loads(stored).get("month_ends_tied", [])) if stored else set()


def _headers(ctx: FlowContext, ids: list[str]):  # noqa: ANN202 - Settlement headers
    return [stored_report(ctx, sid).settlement for sid in ids]


def run(ctx: FlowContext) -> FlowSummary:
    """The scheduled tie-out: every stored settlement that has not tied yet (a settlement that tied
    once is not read again; `ml-connector reconcile` re-checks any of them on demand), then the
    ledger's reserve and deferred balances against Amazon's at each month end."""
    summary = FlowSummary(FLOW, ctx.name)
    stored = settlement_ids(ctx)
    todo = [sid for sid in stored if not tied_before(ctx, sid)]
    summary.count("already_tied", len(stored) - len(todo))
    results = reconcile(ctx, todo) if todo else []
    for result in results:
        summary.count("tied" if result.ties else "with_differences")
        summary.notes.extend(diff.line() for diff in result.differences)
        # On the settlement's own trail, never creating a record (reconcile posts nothing).
        record = ctx.store.find_record(ctx.name, "settlement", result.settlement_id)
        if record is not None:
            ctx.store.add_event(
                record.id,
                "reconciled",
                message="ties" if result.ties else f"{len(result.differences)} difference(s)",
                payload={"ties": result.ties, "differences": [d.as_dict() for d in result.differences]},
                actor=FLOW,
            )
    tied_months = _tied_months(ctx)
    months = []
    if stored:
        periods = [p for p in month_ends(ctx, _headers(ctx, stored)) if p not in tied_months]
        months = reconcile_month_ends(ctx, periods) if periods else []
    summary.count("month_ends_already_tied", len(tied_months))
    by_period: dict[str, bool] = {}
    for month in months:
        complete = month.ties and not any("not compared" in note for note in month.notes)
        by_period[month.period] = by_period.get(month.period, True) and complete  # checked in full
    newly = sorted(p for p, ties in by_period.items() if ties)
    if newly:
        ctx.store.set_cursor(ctx.name, FLOW, json.dumps({"month_ends_tied": sorted({*tied_months, *newly})}))
    for month in months:
        summary.count("month_ends_tied" if month.ties else "month_ends_with_differences")
        summary.notes.extend(diff.line() for diff in month.differences)
    summary.facts["reconcile"] = [r.as_dict() for r in results]
    summary.facts["month_ends"] = [m.as_dict() for m in months]
    summary.facts["differences"] = sum(len(r.differences) for r in results) + sum(
        len(m.differences) for m in months
    )
    return summary
