"""Small typed views of SP-API resources that have no place in the canonical model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ml_connector.model import Money


@dataclass(frozen=True)
class FinancialEventGroup:
    group_id: str
    processing_status: str  # Open | Closed
    fund_transfer_status: str | None
    original_total: Money | None
    start: datetime | None
    end: datetime | None
    fund_transfer_date: datetime | None
    converted_total: Money | None = None  # the deposit in the bank account's currency


@dataclass(frozen=True)
class Transaction:
    """A Finances 2024-06-19 transaction, money already as Money."""

    transaction_id: str
    transaction_type: str
    status: str
    posted: datetime | None
    total: Money | None
    marketplace_id: str | None
    related: dict[str, str] = field(default_factory=dict)  # ORDER_ID, SETTLEMENT_ID, ...
    breakdowns: tuple[tuple[str, Money], ...] = ()


@dataclass(frozen=True)
class ReportInfo:
    report_id: str
    report_type: str
    status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    created: datetime | None
    data_start: datetime | None
    data_end: datetime | None
    document_id: str | None
    marketplace_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedInfo:
    feed_id: str
    feed_type: str
    status: str
    result_document_id: str | None


@dataclass(frozen=True)
class ListingSubmission:
    """patchListingsItem's answer: ACCEPTED means queued (not applied), INVALID lists issues."""

    sku: str
    status: str
    submission_id: str
    issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarketplaceParticipation:
    marketplace_id: str
    country_code: str
    currency: str
    name: str
    participating: bool


@dataclass(frozen=True)
class ListingState:
    """What Amazon currently has for a SKU in one marketplace: the stock & price flow compares it
    with the ERP and sends only what changed."""

    sku: str
    marketplace_id: str
    asin: str | None
    price: Money | None
    quantity: int | None  # seller-fulfilled quantity (DEFAULT channel)
