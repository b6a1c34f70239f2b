"""Amazon's own figures: Finances 2024-06-19 ``listBalances``, ``listSummary`` and deferred
``listTransactions``, Transfers 2024-06-01 ``listPayouts``.

Functions over an ``SpApiClient`` (its one transport, buckets and retry policy), so reconcile and
the deferrals flow read what Amazon says it holds and paid, and compare it with the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ml_connector.model import Money, SettlementLine
from ml_connector.sources.amazon import mapping
from ml_connector.sources.amazon.api.common import iso
from ml_connector.sources.amazon.api.paging import get_pages
from ml_connector.sources.amazon.client import SpApiClient

BALANCE_TYPES = ("AVAILABLE", "RESERVED", "ACCOUNT_LEVEL_RESERVE", "DEFERRED", "TOTAL")
DEFERRED_STATUSES = ("DEFERRED", "DEFERRED_RELEASED")
# Finances 2024 breakdown names -> the settlement report's amount type (the mapping's vocabulary).
_AMOUNT_TYPES = {
    "productcharges": "ItemPrice",
    "sales": "ItemPrice",
    "amazonfees": "ItemFees",
    "fees": "ItemFees",
    "expenses": "ItemFees",
    "tax": "ItemWithheldTax",
    "taxwithheld": "ItemWithheldTax",
    "promotion": "Promotion",
    "promotions": "Promotion",
}
_TRANSACTION_TYPES = {"shipment": "Order", "refund": "Refund"}


@dataclass(frozen=True)
class Balance:
    marketplace_id: str
    balance_type: str  # AVAILABLE | RESERVED | ACCOUNT_LEVEL_RESERVE | DEFERRED | TOTAL
    amount: Money
    as_of: datetime | None


@dataclass(frozen=True)
class Summary:
    settlement_id: str | None
    marketplace_id: str | None
    net_proceeds: Money | None
    start: datetime | None
    end: datetime | None
    breakdowns: tuple[tuple[str, Money], ...] = ()


@dataclass(frozen=True)
class Payout:
    payout_id: str
    status: str  # STARTED | IN_TRANSIT | PAID | FAILED | CANCELLED | NO_PAYOUT
    amount: Money | None
    trace_id: str | None
    created: datetime | None
    marketplace_id: str | None
    settlement_ids: tuple[str, ...] = ()
    failure_reason: str | None = None


@dataclass(frozen=True)
class DeferredTransaction:
    """A sale Amazon holds back (DEFERRED) or held back and released since (DEFERRED_RELEASED):
    when it was earned, why it is held (B2B, DD7), when it matures, and its lines in the
    settlement report's vocabulary so the mapping books it like the settlement will."""

    transaction_id: str
    status: str
    reason: str | None
    earned: datetime
    maturity: datetime | None
    total: Money
    marketplace_id: str | None
    order_id: str | None
    release_id: str | None
    lines: tuple[SettlementLine, ...] = field(default=(), repr=False)

    @property
    def released(self) -> bool:
        return self.status == "DEFERRED_RELEASED"

    def as_row(self) -> dict[str, Any]:
        """One CSV row (the list behind each deferral figure)."""
        return {
            "transaction_id": self.transaction_id,
            "order_id": self.order_id or "",
            "marketplace_id": self.marketplace_id or "",
            "status": self.status,
            "reason": self.reason or "",
            "earned": self.earned.isoformat(),
            "maturity": self.maturity.isoformat() if self.maturity else "",
            "release_transaction_id": self.release_id or "",
            "amount": self.total.as_string(),
            "currency": self.total.currency,
        }


def _payload(data: object) -> dict:
    return data.get("payload", data) if isinstance(data, dict) else {}


def _pages(client: SpApiClient, operation: str, path: str, params: dict, items: str) -> Iterator[dict]:
    for page in get_pages(
        client,
        operation,
        path,
        params,
        send_as="nextToken",
        next_token=lambda page: _payload(page).get("nextToken"),
    ):
        yield from _payload(page).get(items) or ()


def list_balances(
    client: SpApiClient,
    marketplace_ids: Iterable[str],
    *,
    as_of: date | None = None,
    balance_type: str | None = None,
) -> list[Balance]:
    """Every balance of the marketplaces (nested ones flattened), at the end of ``as_of`` or now."""
    params: dict[str, Any] = {"marketplaceIds": list(marketplace_ids), "balanceType": balance_type}
    if as_of is not None:
        params["asOfDate"] = as_of.isoformat()
    result: list[Balance] = []

    def walk(entry: dict, market: str | None) -> None:
        market = (entry.get("partnerMetadata") or {}).get("marketplaceId") or market
        amount = mapping.money(entry.get("amount"))
        if amount is not None and entry.get("balanceType"):
            result.append(
                Balance(market or "", entry["balanceType"], amount, mapping.timestamp(entry.get("asOfDate")))
            )
        for child in entry.get("balances") or ():
            walk(child, market)

    for entry in _pages(client, "listBalances", "/finances/2024-06-19/balances", params, "balances"):
        walk(entry, None)
    return result


def _summary(data: dict) -> Summary:
    related = {
        r.get("relatedIdentifierName"): r.get("relatedIdentifierValue")
        for r in data.get("relatedIdentifiers") or ()
    }
    parts = []
    for entry in data.get("breakdowns") or ():
        amount = mapping.money(entry.get("breakdownAmount"))
        if amount is not None:
            parts.append((entry.get("breakdownType", ""), amount))
    return Summary(
        settlement_id=related.get("SETTLEMENT_ID"),
        marketplace_id=(data.get("partnerMetadata") or {}).get("marketplaceId"),
        net_proceeds=mapping.money(data.get("netProceeds")),
        start=mapping.timestamp(data.get("periodStart")),
        end=mapping.timestamp(data.get("periodEnd")),
        breakdowns=tuple(parts),
    )


def list_summary(client: SpApiClient, settlement_id: str) -> list[Summary]:
    """Amazon's financial summary of one settlement (``relatedIdentifierName=SETTLEMENT_ID``)."""
    params = {"relatedIdentifierName": "SETTLEMENT_ID", "relatedIdentifierValue": settlement_id}
    return [
        _summary(s)
        for s in _pages(client, "listSummary", "/finances/2024-06-19/summary", params, "summaries")
    ]


def list_payouts(
    client: SpApiClient,
    *,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    marketplace_ids: Iterable[str] | None = None,
) -> Iterator[Payout]:
    """Transfers 2024-06-01 payouts (newest first within each account group), every page."""
    params: dict[str, Any] = {
        "marketplaceIds": list(marketplace_ids) if marketplace_ids else None,
        "createdAfter": iso(created_after) if created_after else None,
        "createdBefore": iso(created_before) if created_before else None,
    }
    for data in _pages(client, "listPayouts", "/finances/transfers/2024-06-01/payouts", params, "payouts"):
        history = data.get("statusHistory") or []
        yield Payout(
            payout_id=data.get("id", ""),
            status=data.get("currentStatus", ""),
            amount=mapping.money(data.get("amount")),
            trace_id=data.get("traceId"),
            created=mapping.timestamp(data.get("creationDate")),
            marketplace_id=(data.get("partnerMetadata") or {}).get("marketplaceId"),
            settlement_ids=tuple(
                r.get("relatedIdentifierValue", "")
                for r in data.get("relatedIdentifiers") or ()
                if r.get("relatedIdentifierName") == "SETTLEMENT_ID"
            ),
            failure_reason=next(
                (h.get("failureReason") for h in reversed(history) if h.get("failureReason")), None
            ),
        )


def _lines(
    data: dict, posted: datetime, market_name: str | None, order_id: str | None
) -> list[SettlementLine]:
    """The transaction's breakdown leaves as settlement-style lines: the leaf's name is the amount
    description, its nearest known ancestor the amount type (ProductCharges -> ItemPrice ...)."""
    kind = data.get("transactionType", "")
    transaction_type = _TRANSACTION_TYPES.get(kind.lower(), kind)
    lines: list[SettlementLine] = []

    def walk(entries: list | None, amount_type: str) -> None:
        for entry in entries or ():
            name = entry.get("breakdownType", "")
            here = _AMOUNT_TYPES.get(name.replace(" ", "").lower(), amount_type)
            if entry.get("breakdowns"):
                walk(entry["breakdowns"], here)
                continue
            amount = mapping.money(entry.get("breakdownAmount"))
            if amount is not None and amount.amount:
                lines.append(
                    SettlementLine(
                        transaction_type=transaction_type,
                        amount_type=here,
                        amount_description=name,
                        amount=amount,
                        posted_date=posted,
                        order_id=order_id,
                        marketplace_name=market_name,
                    )
                )

    walk(data.get("breakdowns"), "ItemFees")
    return lines


def deferred_transaction(data: dict) -> DeferredTransaction | None:
    related = {
        r["relatedIdentifierName"]: r["relatedIdentifierValue"] for r in data.get("relatedIdentifiers") or ()
    }
    context: dict = next(
        (c for c in data.get("contexts") or () if c.get("contextType") == "DeferredContext"), {}
    )
    earned = mapping.timestamp(data.get("postedDate"))
    total = mapping.money(data.get("totalAmount"))
    if earned is None or total is None:
        return None
    market = data.get("marketplaceDetails") or {}
    order = related.get("ORDER_ID")
    return DeferredTransaction(
        transaction_id=data.get("transactionId", ""),
        status=(data.get("transactionStatus") or "").upper(),
        reason=context.get("deferralReason"),
        earned=earned,
        maturity=mapping.timestamp(context.get("maturityDate")),
        total=total,
        marketplace_id=market.get("marketplaceId")
        or (data.get("sellingPartnerMetadata") or {}).get("marketplaceId"),
        order_id=order,
        release_id=related.get("RELEASE_TRANSACTION_ID"),
        lines=tuple(_lines(data, earned, market.get("marketplaceName"), order)),
    )


def list_deferred_transactions(
    client: SpApiClient, marketplace_id: str, posted_after: datetime, posted_before: datetime
) -> list[DeferredTransaction]:
    """Every transaction earned in the window that Amazon deferred, still held or released since
    (one ``listTransactions`` per status: DEFERRED, DEFERRED_RELEASED)."""
    before = min(posted_before, client.clock.now() - timedelta(minutes=2, seconds=5))
    result = []
    for status in DEFERRED_STATUSES:
        params = {
            "postedAfter": iso(posted_after),
            "postedBefore": iso(before),
            "marketplaceId": marketplace_id,
            "transactionStatus": status,
        }
        for data in _pages(
            client, "listTransactions", "/finances/2024-06-19/transactions", params, "transactions"
        ):
            tx = deferred_transaction(data)
            if tx is not None:
                result.append(tx)
    return sorted(result, key=lambda tx: (tx.earned, tx.transaction_id))
