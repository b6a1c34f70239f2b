"""Finances v0 (event groups; events by group, by order and by date) and Finances 2024-06-19 (transactions)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from starlette.requests import Request

from ml_connector.sandbox.amazon import balances, views
from ml_connector.sandbox.amazon.http import (
    TWO_MINUTES,
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
    group_id = request.path_params["eventGroupId"]
    settlement = next((s for s in state.world.settlements if s.group_id == group_id), None)
    if settlement is None:
        raise ApiError(404, "NotFound", f"Financial event group {group_id} was not found.")
    events = settlement.events
    if "PostedAfter" in request.query_params or "PostedBefore" in request.query_params:
        events = _posted_between(request, state, events)
    return _event_page(request, events)


async def list_events(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    """listFinancialEvents: every released event posted in [PostedAfter, PostedBefore); deferred
    events appear only once released (they sit in no settlement until then)."""
    return _event_page(request, _posted_between(request, state, _released(state)))


async def list_events_by_order(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    order_id = request.path_params["orderId"]
    if not ORDER_ID.match(order_id):
        raise bad_input(f"Invalid orderId: {order_id!r} is not in 3-7-7 format.")
    events = [e for e in _released(state) if e.order is not None and e.order.order_id == order_id]
    return _event_page(request, events)


ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")


def _released(state: SandboxState) -> list:
    return [e for s in state.world.settlements for e in s.events]


def _posted_between(request: Request, state: SandboxState, events: list) -> list:
    """The model's date rules: PostedBefore needs PostedAfter, must follow it, and (as PostedAfter)
    lie more than two minutes back; it defaults to two minutes before now."""
    after_raw = request.query_params.get("PostedAfter")
    before_raw = request.query_params.get("PostedBefore")
    if before_raw and not after_raw:
        raise bad_input("PostedAfter is required when PostedBefore is given.")
    after = parse_time(after_raw, "PostedAfter")
    before = before_bound(state, before_raw, "PostedBefore")
    if after is not None and after > state.clock.now() - TWO_MINUTES:
        raise bad_input("PostedAfter must be more than 2 minutes before the time of the request.")
    if after is not None and before <= after:
        raise bad_input("PostedBefore must be later than PostedAfter.")
    if after is not None and before - after > timedelta(days=180):
        return []  # the model: more than 180 days apart -> an empty response
    return [e for e in events if (after is None or e.posted >= after) and e.posted < before]


def _event_page(request: Request, events: list) -> dict:
    fp = fingerprint(request, "NextToken")
    offset, _ = decode_token(request.query_params.get("NextToken"), fp)
    size = int_param(request, "MaxResultsPerPage", 100, 1, 100)
    ordered = sorted(events, key=lambda e: (e.posted, e.event_id))
    payload: dict = {"FinancialEvents": views.financial_events_v0(ordered[offset : offset + size])}
    if offset < len(ordered) and len(ordered) > size:
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
    # only deferred events come without a settlement, and they always carry ``earned``
    """A deferred transaction is posted when earned; everything else (releases too) when settled."""
    return event.earned if settlement is None else event.posted


def _status(event, settlement, now) -> str:
    if settlement is None:
        return balances.deferred_status(event, now)
    return "RELEASED"
