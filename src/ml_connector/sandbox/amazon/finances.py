"""Finances v0 (event groups, events by group) and Finances 2024-06-19 (transactions)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request

from ml_connector.sandbox.amazon import balances, views
from ml_connector.sandbox.amazon.http import (
    ApiError,
    bad_input,
    before_bound,
    decode_token,
    encode_token,
    fingerprint,
    int_param,
    parse_time,
)
from ml_connector.sandbox.amazon.state import IssuedToken, SandboxState


async def list_groups(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    fp = fingerprint(request, "NextToken")
    offset, _ = decode_token(request.query_params.get("NextToken"), fp)
    after = parse_time(
        request.query_params.get("FinancialEventGroupStartedAfter"), "FinancialEventGroupStartedAfter"
    )
    before_raw = request.query_params.get("FinancialEventGroupStartedBefore")
    before = before_bound(state, before_raw, "FinancialEventGroupStartedBefore") if before_raw else None
    size = int_param(request, "MaxResultsPerPage", 10, 1, 100)
    groups = [
        s
        for s in state.world.settlements
        if (after is None or s.start >= after) and (before is None or s.start < before)
    ]
    groups.sort(key=lambda s: (s.start, s.group_id))
    payload: dict = {"FinancialEventGroupList": [views.group_v0(s) for s in groups[offset : offset + size]]}
    if offset + size < len(groups):
        payload["NextToken"] = encode_token(offset + size, fp)
    return {"payload": payload}


async def list_events_by_group(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    """Pages of events; after the last full page Amazon may still hand out a token to an empty
    page, and so does the sandbox, so clients learn to loop until the token is gone."""
    fp = fingerprint(request, "NextToken")
    offset, _ = decode_token(request.query_params.get("NextToken"), fp)
    group_id = request.path_params["eventGroupId"]
    settlement = next((s for s in state.world.settlements if s.group_id == group_id), None)
    if settlement is None:
        raise ApiError(404, "NotFound", f"Financial event group {group_id} was not found.")
    size = int_param(request, "MaxResultsPerPage", 100, 1, 100)
    events = sorted(settlement.events, key=lambda e: (e.posted, e.event_id))
    page = events[offset : offset + size]
    payload: dict = {"FinancialEvents": views.financial_events_v0(page)}
    if offset < len(events) and len(events) > size:
        payload["NextToken"] = encode_token(offset + size, fp)
    return {"payload": payload}


async def list_transactions(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    fp = fingerprint(request, "nextToken")
    offset, _ = decode_token(request.query_params.get("nextToken"), fp)
    name = request.query_params.get("relatedIdentifierName")
    value = request.query_params.get("relatedIdentifierValue")
    marketplace = request.query_params.get("marketplaceId")
    status = request.query_params.get("transactionStatus")
    if status and status not in STATUSES:
        raise bad_input(f"transactionStatus must be one of {', '.join(STATUSES)}.")
    pairs: list = [(e, s) for s in state.world.settlements for e in s.events]
    # The deferred transactions themselves (their release is the event in its settlement).
    held = [(e, None) for e in state.world.events if e.deferral]
    if name != "FINANCIAL_EVENT_GROUP_ID":
        pairs += held
    if name or value:
        if name not in ("FINANCIAL_EVENT_GROUP_ID", "ORDER_ID") or not value:
            raise bad_input(
                "relatedIdentifierName must be FINANCIAL_EVENT_GROUP_ID or ORDER_ID, with a value."
            )
        if name == "FINANCIAL_EVENT_GROUP_ID":
            pairs = [(e, s) for e, s in pairs if s.group_id == value]
        else:
            pairs = [(e, s) for e, s in pairs if e.order and e.order.order_id == value]
    else:
        after = parse_time(request.query_params.get("postedAfter"), "postedAfter")
        if after is None:
            raise bad_input("postedAfter is required unless a related identifier is given.")
        before = before_bound(state, request.query_params.get("postedBefore"), "postedBefore")
        pairs = [(e, s) for e, s in pairs if after <= _posted(e, s) < before]
    if marketplace:
        pairs = [(e, s) for e, s in pairs if e.marketplace.marketplace_id == marketplace]
    now = state.clock.now()
    if status:
        pairs = [(e, s) for e, s in pairs if _status(e, s, now) == status]
    pairs.sort(key=lambda pair: (_posted(*pair), pair[0].event_id))
    size = 100
    payload: dict = {
        "transactions": [
            views.transaction_2024(e, s) if s is not None else balances.deferred_transaction(e, now)
            for e, s in pairs[offset : offset + size]
        ]
    }
    if offset + size < len(pairs):
        payload["nextToken"] = encode_token(offset + size, fp)
    return {"payload": payload}


STATUSES = ("DEFERRED", "RELEASED", "DEFERRED_RELEASED")


def _posted(event, settlement) -> datetime:
    """A deferred transaction is posted when earned; everything else (releases too) when settled.
    Only deferred events come without a settlement, and they always carry ``earned``."""
    return event.earned if settlement is None else event.posted


def _status(event, settlement, now) -> str:
    if settlement is None:
        return balances.deferred_status(event, now)
    return "RELEASED"
