"""What a tie-out holds: the figures side by side and every difference between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_connector.model.money import Money

POSTED = ("posted", "found_existing")
NO_ORDER = ""  # lines that belong to no order (subscription, ads, reserve)


@dataclass(frozen=True)
class Difference:
    """One thing that does not tie: what, where (settlement, order), expected vs found."""

    settlement_id: str
    check: str  # lines | finances | journal | erp_journal | reserve | invoice
    message: str
    expected: Money | None = None
    found: Money | None = None
    order_id: str | None = None
    date: str | None = None  # when: the deposit date, a payout's creation date, a month end
    subject: str | None = None  # what, when it is no settlement (a month end of a marketplace)

    @property
    def amount(self) -> Money | None:
        """found - expected; the whole expected amount when nothing was found."""
        if self.expected is None and self.found is None:
            return None
        currency = (self.expected or self.found).currency  # type: ignore[union-attr]
        return (self.found or Money.zero(currency)) - (self.expected or Money.zero(currency))

    def line(self) -> str:
        where = self.subject or f"settlement {self.settlement_id}"
        where += f" order {self.order_id}" if self.order_id else ""
        amount = f" difference {self.amount}" if self.amount is not None else ""
        when = f" on {self.date}" if self.date else ""
        return f"{where}: {self.message}{amount}{when}"

    def as_dict(self) -> dict[str, Any]:
        money = self.expected or self.found
        return {
            "settlement_id": self.settlement_id,
            "order_id": self.order_id,
            "check": self.check,
            "message": self.message,
            "expected": _s(self.expected),
            "found": _s(self.found),
            "difference": _s(self.amount),
            "currency": money.currency if money else None,
            "date": self.date,
            "subject": self.subject,
        }


@dataclass(frozen=True)
class PostedJournal:
    """What the store (and, where readable, the ERP) says about one journal reference."""

    state: str | None  # the record's state; None when the journal was never attempted
    erp_id: str | None = None
    erp_total: Money | None = None  # total debit the ERP holds, when the adapter can read it
    error: str | None = None
    checked: bool = False  # the ERP was asked: erp_total None then means it has no such journal


@dataclass(frozen=True)
class Invoice:
    """An order's ERP invoice: its id and total (None when the ERP has none / it cannot be read)."""

    erp_id: str | None
    total: Money | None


@dataclass(frozen=True)
class OrderTie:
    order_id: str
    settlement: Money  # the receivable-clearing Order lines of this order in the settlement
    invoice: Money | None
    erp_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "settlement": _s(self.settlement),
            "invoice": _s(self.invoice),
            "erp_id": self.erp_id,
        }


@dataclass(frozen=True)
class Reserve:
    """The reserve this settlement released (+) and held back (-), and what the previous
    settlement of the same marketplace held (None when no earlier settlement is stored)."""

    released: Money
    held: Money
    previous_held: Money | None = None
    previous_settlement: str | None = None

    @property
    def balance(self) -> Money:
        """Amazon's reserve after this settlement, as the reserve account should show it."""
        return -self.held

    def as_dict(self) -> dict[str, Any]:
        return {
            "released": _s(self.released),
            "held": _s(self.held),
            "balance": _s(self.balance),
            "previous_held": _s(self.previous_held),
            "previous_settlement": self.previous_settlement,
        }


@dataclass(frozen=True)
class AmazonPayout:
    """The transfer Amazon made for a settlement (Transfers 2024-06-01 listPayouts)."""

    payout_id: str
    status: str
    amount: Money | None
    trace_id: str | None
    created: str | None
    failure_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "payout_id": self.payout_id,
            "status": self.status,
            "amount": _s(self.amount),
            "trace_id": self.trace_id,
            "created": self.created,
            "failure_reason": self.failure_reason,
        }


@dataclass
class MonthEnd:
    """One marketplace at one month end: the ledger's reserve and deferred balances against
    Amazon's listBalances (ACCOUNT_LEVEL_RESERVE, DEFERRED, RESERVED), with the transactions
    behind the deferred figure."""

    marketplace_id: str
    currency: str
    period: str
    as_of: str
    ledger_reserve: Money | None
    ledger_deferred: Money | None
    amazon: dict[str, Money] = field(default_factory=dict)
    deferral_rows: list[dict[str, Any]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "marketplace_id": self.marketplace_id,
            "currency": self.currency,
            "period": self.period,
            "as_of": self.as_of,
            "ledger_reserve": _s(self.ledger_reserve),
            "ledger_deferred": _s(self.ledger_deferred),
            "amazon": {kind: _s(money) for kind, money in self.amazon.items()},
            "deferral_rows": self.deferral_rows,
            "differences": [d.as_dict() for d in self.differences],
            "notes": list(self.notes),
            "ties": self.ties,
        }


@dataclass
class TieOut:
    """One settlement's tie-out: the figures side by side and every difference between them."""

    settlement_id: str
    currency: str
    marketplace: str | None
    report_total: Money
    lines_total: Money
    line_count: int
    finances_total: Money | None
    finances_group: str | None
    journal_deposit: Money | None
    reserve: Reserve | None = None
    summary: Money | None = None  # Amazon's listSummary net proceeds for this settlement
    payout: AmazonPayout | None = None  # Transfers listPayouts: the deposit as Amazon made it
    amazon_balance: Money | None = (
        None  # the seller's balance with Amazon after it (negative: owed to Amazon)
    )
    deposit_date: str | None = None
    deferred_released: list[dict[str, Any]] = field(default_factory=list)  # deferred transactions it paid
    journals: dict[str, PostedJournal] = field(default_factory=dict)
    orders: list[OrderTie] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "settlement_id": self.settlement_id,
            "currency": self.currency,
            "marketplace": self.marketplace,
            "report_total": _s(self.report_total),
            "lines_total": _s(self.lines_total),
            "line_count": self.line_count,
            "finances_total": _s(self.finances_total),
            "finances_group": self.finances_group,
            "journal_deposit": _s(self.journal_deposit),
            "reserve": self.reserve.as_dict() if self.reserve else None,
            "summary": _s(self.summary),
            "payout": self.payout.as_dict() if self.payout else None,
            "amazon_balance": _s(self.amazon_balance),
            "deposit_date": self.deposit_date,
            "deferred_released": list(self.deferred_released),
            "journals": {
                ref: {
                    "state": j.state,
                    "erp_id": j.erp_id,
                    "erp_total": _s(j.erp_total),
                    "erp_checked": j.checked,
                    "error": j.error,
                }
                for ref, j in self.journals.items()
            },
            "orders": [o.as_dict() for o in self.orders],
            "differences": [d.as_dict() for d in self.differences],
            "notes": list(self.notes),
            "ties": self.ties,
        }


def _s(money: Money | None) -> str | None:
    return None if money is None else money.as_string()


def _q(money: Money) -> Money:
    return money.quantized()
