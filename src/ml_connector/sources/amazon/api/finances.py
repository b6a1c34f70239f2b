"""Finances: v0 ``listFinancialEventGroups`` (not scheduled for removal), v0
``listFinancialEventsByGroupId`` (the fallback Amazon removes on 2027-08-27, flattened into
settlement-style lines) and 2024-06-19 ``listTransactions`` (the default path). Balances, summaries,
payouts and deferred transactions: ``sources/amazon/balances.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ml_connector.model import Money, SettlementLine
from ml_connector.sources.amazon import finances as events
from ml_connector.sources.amazon import mapping
from ml_connector.sources.amazon.api.common import iso, latest_before
from ml_connector.sources.amazon.api.paging import get_pages, payload_token
from ml_connector.sources.amazon.resources import FinancialEventGroup, Transaction

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

log = logging.getLogger(__name__)


def list_financial_event_groups(
    client: SpApiClient, started_after: datetime, *, started_before: datetime | None = None
) -> Iterator[FinancialEventGroup]:
    params: dict[str, Any] = {
        "FinancialEventGroupStartedAfter": iso(started_after),
        "MaxResultsPerPage": 100,
    }
    if started_before:
        params["FinancialEventGroupStartedBefore"] = iso(started_before)
    for page in get_pages(
        client,
        "listFinancialEventGroups",
        "/finances/v0/financialEventGroups",
        params,
        send_as="NextToken",
        next_token=payload_token("NextToken"),
    ):
        for group in page.get("payload", {}).get("FinancialEventGroupList") or ():
            yield FinancialEventGroup(
                group_id=group["FinancialEventGroupId"],
                processing_status=group.get("ProcessingStatus", ""),
                fund_transfer_status=group.get("FundTransferStatus"),
                original_total=mapping.money(group.get("OriginalTotal")),
                start=mapping.timestamp(group.get("FinancialEventGroupStart")),
                end=mapping.timestamp(group.get("FinancialEventGroupEnd")),
                fund_transfer_date=mapping.timestamp(group.get("FundTransferDate")),
                converted_total=mapping.money(group.get("ConvertedTotal")),
            )


def list_financial_events_by_group(client: SpApiClient, group_id: str) -> Iterator[SettlementLine]:
    """Every event of a group, flattened to settlement-style lines (empty pages are followed)."""
    for page in get_pages(
        client,
        "listFinancialEventsByGroupId",
        f"/finances/v0/financialEventGroups/{group_id}/financialEvents",
        {"MaxResultsPerPage": 100},
        send_as="NextToken",
        next_token=payload_token("NextToken"),
    ):
        found = page.get("payload", {}).get("FinancialEvents") or {}
        unhandled = events.unhandled_lists(found)
        if unhandled:
            log.warning(
                "financial event group %s holds events not mapped: %s", group_id, ", ".join(unhandled)
            )
        yield from events.finance_lines(found)


def list_transactions(
    client: SpApiClient,
    *,
    posted_after: datetime | None = None,
    posted_before: datetime | None = None,
    marketplace_id: str | None = None,
    related_identifier: tuple[str, str] | None = None,
) -> Iterator[Transaction]:
    """Finances 2024-06-19 transactions by posted date, or by one related identifier
    (``("FINANCIAL_EVENT_GROUP_ID", id)`` or ``("ORDER_ID", id)``)."""
    params: dict[str, Any] = {"marketplaceId": marketplace_id}
    if related_identifier:
        params["relatedIdentifierName"], params["relatedIdentifierValue"] = related_identifier
    else:
        params["postedAfter"] = iso(posted_after or client.clock.now() - timedelta(days=30))
        params["postedBefore"] = iso(latest_before(client, posted_before))
    for page in get_pages(
        client,
        "listTransactions",
        "/finances/2024-06-19/transactions",
        params,
        send_as="nextToken",
        next_token=payload_token("nextToken"),
    ):
        for data in page.get("payload", {}).get("transactions") or ():
            yield transaction(data)


def transaction(data: dict) -> Transaction:
    breakdowns: list[tuple[str, Money]] = []

    def walk(entries: list | None) -> None:
        for entry in entries or ():
            nested = entry.get("breakdowns")
            if nested:
                walk(nested)
            else:
                amount = mapping.money(entry.get("breakdownAmount"))
                if amount is not None:
                    breakdowns.append((entry.get("breakdownType", ""), amount))

    walk(data.get("breakdowns"))
    return Transaction(
        transaction_id=data.get("transactionId", ""),
        transaction_type=data.get("transactionType", ""),
        status=data.get("transactionStatus", ""),
        posted=mapping.timestamp(data.get("postedDate")),
        total=mapping.money(data.get("totalAmount")),
        marketplace_id=(data.get("marketplaceDetails") or {}).get("marketplaceId")
        or (data.get("sellingPartnerMetadata") or {}).get("marketplaceId"),
        related={
            r["relatedIdentifierName"]: r["relatedIdentifierValue"]
            for r in data.get("relatedIdentifiers") or ()
        },
        breakdowns=tuple(breakdowns),
    )
