"""The Amazon balance after a settlement: what Amazon owes the seller, or the seller owes Amazon.

Between payouts Amazon holds a balance for the seller. A settlement ends with its total: when
positive Amazon pays it to the bank (the balance is then zero), when negative nothing is paid and
the seller owes it (the next settlement opens with "Payable to Amazon" for that amount, and Amazon
charges the seller's card: "Successful charge"). The journals book all of that through one Amazon
balance account, so the bank account moves only by money that reached the bank.

``amazon_balance(result, mapping)`` gives, per built settlement, the figures reconcile shows and
checks (h5's reconcile package calls it): what was carried in, what was charged to the seller's
card or bank, what reached the bank, what Amazon still holds afterwards, and how far the
journals moved the ledger's Amazon balance account. The ledger account then equals Amazon's
closing balance minus the card charges and micro deposits whose card or bank statement entry
(debit the Amazon balance, credit the card or bank) has not been booked yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ml_connector.model.money import Money
from ml_connector.settlement.journal_builder import BuildResult
from ml_connector.settlement.mapping import AccountMapping

CARRIED = ("carried_balance",)  # Payable to Amazon, balances moved between marketplaces, failed transfers
CHARGES = ("card_charges", "micro_deposit")  # money between the seller's card/bank and Amazon


@dataclass(frozen=True, slots=True)
class AmazonBalance:
    settlement_id: str
    account: str  # the ledger's Amazon balance account
    carried_in: Money  # balances brought in (negative: the seller owed Amazon when it started)
    charges: Money  # charged to the seller's card or bank (positive) or micro deposits sent (negative)
    paid_to_bank: Money  # the bank line: max(total, 0)
    closing: Money  # what Amazon holds after the settlement: min(total, 0) (negative: owed to Amazon)
    ledger_movement: Money  # net debit this settlement's journals put on the Amazon balance account

    @property
    def awaiting_statement(self) -> Money:
        """The charges whose card or bank statement entry clears them on the Amazon balance account."""
        return self.charges


def amazon_balance(result: BuildResult, mapping: AccountMapping) -> AmazonBalance:
    """The Amazon balance figures of one built (not quarantined) settlement."""
    settlement = result.settlement
    currency = settlement.currency
    zero = Money.zero(currency)

    def category_sum(names: tuple[str, ...]) -> Money:
        return sum((result.categories.get(n, zero) for n in names), zero)

    account = mapping.account_of("amazon_balance") or ""
    moved = sum(
        (line.net for journal in result.journals for line in journal.lines if line.account == account), zero
    )
    total = settlement.total.amount
    return AmazonBalance(
        settlement_id=settlement.settlement_id,
        account=account,
        carried_in=category_sum(CARRIED),
        charges=category_sum(CHARGES),
        paid_to_bank=Money(max(total, Decimal(0)), currency),
        closing=Money(min(total, Decimal(0)), currency),
        ledger_movement=moved,
    )
