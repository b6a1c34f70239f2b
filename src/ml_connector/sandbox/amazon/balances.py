"""Amazon's own figures, served from the same world as the settlements: Finances 2024-06-19
``listBalances`` and ``listSummary``, Transfers 2024-06-01 ``listPayouts``, and the view of a
deferred transaction for ``listTransactions``.

Every figure is computed from the generated events, so the ledger ml-connector books ties to it
by construction; ``SandboxState.plant(...)`` adds a difference where a test wants one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from starlette.requests import Request

from ml_connector.sandbox.amazon.http import (
    ApiError,
    bad_input,
    csv,
    decode_token,
    encode_token,
    fingerprint,
    parse_time,
)
from ml_connector.sandbox.amazon.views import currency_2024, iso, transaction_2024
from ml_connector.sandbox.amazon.world import FinanceEvent, Planted, SandboxSettlement, World
from ml_connector.sandbox.catalog import MARKETPLACES

ACCOUNT_TYPE = "Standard Orders"
LEAF_BALANCES = ("AVAILABLE", "DEFERRED", "ACCOUNT_LEVEL_RESERVE")
BALANCE_TYPES = (*LEAF_BALANCES, "RESERVED", "TOTAL")
PAYOUT_PAGE = 20


# -- deferred transactions -------------------------------------------------------------------------


def deferred_status(event: FinanceEvent, now: datetime) -> str:
    """Amazon releases a deferred transaction when it matures, whether or not the sandbox's
    settlements reach that far (the world's periods end at its origin; time runs on after it)."""
    return "DEFERRED_RELEASED" if event.posted <= now else "DEFERRED"


def deferred_transaction(event: FinanceEvent, now: datetime) -> dict:
    """The deferred transaction itself: posted when earned, with its DeferredContext; once released
    it points at its release (the event as its settlement holds it)."""
    assert event.earned is not None
    holder = SandboxSettlement("", "", event.marketplace, event.earned, event.earned, [], False)
    data = transaction_2024(event, holder)
    status = deferred_status(event, now)
    related = [
        r
        for r in data["relatedIdentifiers"]
        if r["relatedIdentifierName"] not in ("FINANCIAL_EVENT_GROUP_ID", "DEFERRED_TRANSACTION_ID")
    ]
    if status == "DEFERRED_RELEASED":
        related.append(
            {"relatedIdentifierName": "RELEASE_TRANSACTION_ID", "relatedIdentifierValue": event.event_id}
        )
    data.update(
        transactionId=event.deferred_id,
        transactionStatus=status,
        postedDate=iso(event.earned),
        relatedIdentifiers=related,
    )
    data["contexts"] = [
        *data.get("contexts", []),
        {
            "contextType": "DeferredContext",
            "deferralReason": event.deferral,
            "maturityDate": iso(event.posted),
        },
    ]
    return data


# -- balances --------------------------------------------------------------------------------------


def balances_at(world: World, marketplace_id: str, at: datetime, planted: Planted) -> dict[str, Decimal]:
    """AVAILABLE (settled, not paid out yet), DEFERRED (earned, not released), ACCOUNT_LEVEL_RESERVE
    (held back by the last settlement) of one marketplace at ``at``; RESERVED and TOTAL summed."""
    market = MARKETPLACES[marketplace_id]
    values = dict.fromkeys(LEAF_BALANCES, Decimal(0))
    for event in world.events:
        earned = event.marketplace is market and event.deferral and event.earned and event.earned < at
        if earned and event.posted >= at:  # earned, not matured (released) yet at ``at``
            values["DEFERRED"] += event.total
    for settlement in world.settlements:
        if settlement.marketplace is not market:
            continue
        unpaid = not settlement.closed or settlement.deposit_date > at
        for event in settlement.events:
            if event.posted >= at:
                continue
            if event.kind == "reserve":
                values["ACCOUNT_LEVEL_RESERVE"] -= event.total
            elif unpaid:
                values["AVAILABLE"] += event.total
    for kind in LEAF_BALANCES:
        values[kind] += planted.balances.get((marketplace_id, kind), Decimal(0))
    values["RESERVED"] = values["DEFERRED"] + values["ACCOUNT_LEVEL_RESERVE"]
    values["TOTAL"] = values["AVAILABLE"] + values["RESERVED"]
    return values


def _balance(kind: str, amount: Decimal, currency: str, as_of: datetime | None, children=()) -> dict:
    data: dict = {"balanceType": kind, "amount": currency_2024(amount, currency)}
    if children:
        data["balances"] = list(children)
    if as_of is not None:
        data["asOfDate"] = iso(as_of)
    return data


def balance_tree(
    marketplace_id: str, values: dict[str, Decimal], as_of: datetime | None, now: datetime
) -> dict:
    cur = MARKETPLACES[marketplace_id].currency
    reserved = _balance(
        "RESERVED",
        values["RESERVED"],
        cur,
        as_of,
        [_balance(k, values[k], cur, as_of) for k in ("DEFERRED", "ACCOUNT_LEVEL_RESERVE")],
    )
    total = _balance(
        "TOTAL",
        values["TOTAL"],
        cur,
        as_of,
        [_balance("AVAILABLE", values["AVAILABLE"], cur, as_of), reserved],
    )
    total["partnerMetadata"] = {
        "partnerId": "A3SANDBOXSELLER",
        "accountType": ACCOUNT_TYPE,
        "marketplaceId": marketplace_id,
    }
    if as_of is None:
        total["lastUpdatedTime"] = iso(now)
    return total


def _as_of(value: str | None) -> datetime | None:
    """``asOfDate`` (a date, or a date-time): the ending balance of that day."""
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value[:10]).replace(tzinfo=UTC)
    except ValueError:
        raise bad_input(f"asOfDate {value!r} is not an ISO 8601 date.") from None
    return day + timedelta(days=1)


async def list_balances(request: Request, state, token) -> dict:
    markets = csv(request, "marketplaceIds") or sorted(
        {s.marketplace.marketplace_id for s in state.world.settlements}
    )
    unknown = [m for m in markets if m not in MARKETPLACES]
    if unknown:
        raise bad_input(f"Unknown marketplaceIds: {', '.join(unknown)}.")
    kind = request.query_params.get("balanceType")
    if kind and kind not in BALANCE_TYPES:
        raise bad_input(f"balanceType must be one of {', '.join(BALANCE_TYPES)}.")
    raw = request.query_params.get("asOfDate")
    end = _as_of(raw)
    now = state.clock.now()
    if end is not None and end - timedelta(days=1) > now:
        raise bad_input("asOfDate must not be in the future.")
    result = []
    for market in markets:
        values = balances_at(state.world, market, end or now, state.planted)
        as_of = end - timedelta(days=1) if end else None
        if kind:
            entry = _balance(kind, values[kind], MARKETPLACES[market].currency, as_of)
            entry["partnerMetadata"] = {
                "partnerId": "A3SANDBOXSELLER",
                "accountType": ACCOUNT_TYPE,
                "marketplaceId": market,
            }
            result.append(entry)
        else:
            result.append(balance_tree(market, values, as_of, now))
    return {"balances": result}


# -- summaries -------------------------------------------------------------------------------------

_SUMMARY_TYPES = {"Order": "Sales", "Refund": "Refunds"}


def summary_of(settlement: SandboxSettlement, planted: Planted) -> dict:
    cur = settlement.marketplace.currency
    parts: dict[str, Decimal] = defaultdict(Decimal)
    for line in settlement.lines():
        if line.transaction_type == "Order" and line.amount_type == "ItemPrice":
            parts["Sales"] += line.amount.amount
        elif line.transaction_type == "Refund" and line.amount_type == "ItemPrice":
            parts["Refunds"] += line.amount.amount
        elif "Reserve" in line.amount_description:
            parts["Reserves"] += line.amount.amount
        else:
            parts["Expenses"] += line.amount.amount
    net = settlement.total + planted.summaries.get(settlement.settlement_id, Decimal(0))
    return {
        "partnerMetadata": {
            "partnerId": "A3SANDBOXSELLER",
            "accountType": ACCOUNT_TYPE,
            "marketplaceId": settlement.marketplace.marketplace_id,
        },
        "netProceeds": currency_2024(net, cur),
        "relatedIdentifiers": [
            {"relatedIdentifierName": "SETTLEMENT_ID", "relatedIdentifierValue": settlement.settlement_id}
        ],
        "breakdowns": [
            {"breakdownType": name, "breakdownAmount": currency_2024(amount, cur), "breakdowns": []}
            for name, amount in parts.items()
        ],
        "periodStart": iso(settlement.start),
        "periodEnd": iso(settlement.end),
    }


async def list_summary(request: Request, state, token) -> dict:
    name = request.query_params.get("relatedIdentifierName")
    value = request.query_params.get("relatedIdentifierValue")
    closed = [s for s in state.world.settlements if s.closed]
    markets = csv(request, "marketplaceIds")
    if markets:
        closed = [s for s in closed if s.marketplace.marketplace_id in markets]
    if name or value:
        if name != "SETTLEMENT_ID" or not value:
            raise bad_input("relatedIdentifierName must be SETTLEMENT_ID, with a value.")
        closed = [s for s in closed if s.settlement_id == value]
    else:
        start = parse_time(request.query_params.get("periodStart"), "periodStart")
        end = parse_time(request.query_params.get("periodEnd"), "periodEnd")
        if start is None or end is None:
            raise bad_input("periodStart and periodEnd are required unless a related identifier is given.")
        closed = [s for s in closed if s.start >= start and s.end <= end]
    return {"summaries": [summary_of(s, state.planted) for s in closed]}


# -- payouts ---------------------------------------------------------------------------------------


def payout_created(settlement: SandboxSettlement) -> datetime:
    return settlement.end + timedelta(hours=1)


def payout_of(settlement: SandboxSettlement, now: datetime, planted: Planted) -> dict:
    """The transfer of one settlement: started when the settlement closes, IN_TRANSIT until the
    deposit date, PAID from then; NO_PAYOUT when the seller owes Amazon."""
    cur = settlement.marketplace.currency
    plant = planted.payouts.get(settlement.settlement_id, {})
    amount = settlement.total + plant.get("amount", Decimal(0))
    created = payout_created(settlement)
    if amount <= 0:
        history = [("NO_PAYOUT", created)]
    else:
        history = [("STARTED", created)]
        if created + timedelta(hours=6) <= now:
            history.append(("IN_TRANSIT", created + timedelta(hours=6)))
        if settlement.deposit_date <= now:
            history.append(("PAID", settlement.deposit_date))
    if plant.get("status"):
        history.append((plant["status"], history[-1][1] + timedelta(hours=1)))
    data: dict = {
        "id": f"PO{settlement.settlement_id}",
        "partnerMetadata": {
            "partnerId": "A3SANDBOXSELLER",
            "accountType": ACCOUNT_TYPE,
            "marketplaceId": settlement.marketplace.marketplace_id,
        },
        "currentStatus": history[-1][0],
        "statusHistory": [{"status": status, "lastUpdatedDate": iso(when)} for status, when in history],
        "creationDate": iso(created),
        "period": {"startDate": iso(settlement.start), "endDate": iso(settlement.end)},
        "relatedIdentifiers": [
            {"relatedIdentifierName": "SETTLEMENT_ID", "relatedIdentifierValue": settlement.settlement_id}
        ],
    }
    if amount > 0:
        data.update(
            type="SCHEDULED",
            amount=currency_2024(amount, cur),
            accountTail="842",
            paymentMethod="BANK_ACCOUNT",
            paymentRail="ACH" if cur == "USD" else "SEPA" if cur == "EUR" else "LOCAL",
            traceId=f"T{settlement.settlement_id}",
        )
    return data


async def list_payouts(request: Request, state, token) -> dict:
    fp = fingerprint(request, "nextToken")
    offset, _ = decode_token(request.query_params.get("nextToken"), fp)
    after = parse_time(request.query_params.get("createdAfter"), "createdAfter")
    before = parse_time(request.query_params.get("createdBefore"), "createdBefore")
    payout_id = request.query_params.get("payoutId")
    markets = csv(request, "marketplaceIds")
    now = state.clock.now()
    chosen = [
        s
        for s in state.world.settlements
        if s.closed
        and payout_created(s) <= now
        and (after is None or payout_created(s) >= after)
        and (before is None or payout_created(s) < before)
        and (not markets or s.marketplace.marketplace_id in markets)
        and (payout_id is None or f"PO{s.settlement_id}" == payout_id)
    ]
    if payout_id and not chosen:
        raise ApiError(404, "NotFound", f"Payout {payout_id} was not found.")
    chosen.sort(key=lambda s: (payout_created(s), s.settlement_id), reverse=True)  # most recent first
    payload: dict = {
        "payouts": [payout_of(s, now, state.planted) for s in chosen[offset : offset + PAYOUT_PAGE]]
    }
    if offset + PAYOUT_PAGE < len(chosen):
        payload["nextToken"] = encode_token(offset + PAYOUT_PAGE, fp)
    return payload
