"""A general-ledger journal: what a target posts for a settlement (or one period of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ml_connector.model.money import Money, total


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One ledger line. Exactly one of debit and credit is non-zero (both zero is allowed only
    for an explicitly zero-amount line, which builders do not emit)."""

    account: str
    debit: Money
    credit: Money
    description: str = ""
    reference: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    category: str = ""  # the mapping's category (sales, fees, reserve, bank ...), for summaries
    # A converted payout: the amount that reached the bank, in the bank account's currency (a memo
    # for ERPs with one currency per journal; the line's own amount stays in the journal currency).
    bank_amount: Money | None = None

    def __post_init__(self) -> None:
        if self.debit.currency != self.credit.currency:
            raise ValueError("debit and credit of one journal line must share a currency")
        if self.debit.is_negative or self.credit.is_negative:
            raise ValueError("debit and credit are never negative; the side carries the sign")

    @property
    def currency(self) -> str:
        return self.debit.currency

    @property
    def dimension_map(self) -> dict[str, str]:
        return dict(self.dimensions)

    @property
    def net(self) -> Money:
        """Debit minus credit: positive for a debit line."""
        return self.debit - self.credit


@dataclass(frozen=True, slots=True)
class Journal:
    """A balanced set of lines. ``reference`` is the deterministic key the ERP is searched by:
    the settlement id, plus the period when a settlement is split by accounting period."""

    reference: str
    currency: str
    posting_date: date
    description: str
    lines: tuple[JournalLine, ...] = field(default_factory=tuple)
    settlement_id: str = ""
    period: str | None = None  # "YYYY-MM" when split by period

    @property
    def total_debit(self) -> Money:
        return total([line.debit for line in self.lines], self.currency)

    @property
    def total_credit(self) -> Money:
        return total([line.credit for line in self.lines], self.currency)

    @property
    def balanced(self) -> bool:
        return self.total_debit.quantized() == self.total_credit.quantized()
