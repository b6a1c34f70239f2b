"""The SP-API sandbox's settlements carry a negative balance as Amazon does: Payable to Amazon
and the card charge in the next settlement; the journals leave the bank as the bank is."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ml_connector.sandbox.amazon.world import generate
from ml_connector.settlement.balance import amazon_balance
from ml_connector.settlement.journal_builder import build_journals
from ml_connector.settlement.mapping import load_mapping
from ml_connector.settlement.reader import open_report

from .settlement_helpers import v2_bytes

MAPPING = load_mapping()


def test_a_negative_sandbox_settlement_is_carried_and_charged_in_the_next() -> None:
    world = generate(datetime(2026, 11, 20, tzinfo=UTC))
    closed = [s for s in world.settlements if s.closed]
    carried = 0
    for market in {s.marketplace.name for s in closed}:
        chain = sorted((s for s in closed if s.marketplace.name == market), key=lambda s: s.start)
        ledger = Decimal(0)
        for previous, settlement in zip([None, *chain], chain, strict=False):
            keys = {ln.amount_description: ln.amount.amount for ln in settlement.lines()}
            if previous is not None and previous.total < 0:
                assert keys["Payable to Amazon"] == previous.total
                assert keys["Successful charge"] == -previous.total
                carried += 1
            else:
                assert "Payable to Amazon" not in keys
            data = v2_bytes(settlement.as_settlement(), settlement.lines(), locale="en_US")
            result = build_journals(open_report(data), MAPPING, split_by_period=True)
            assert not result.quarantined, result.reason
            bank = sum(
                (ln.net.amount for j in result.journals for ln in j.lines if ln.account == "1020"), Decimal(0)
            )
            assert bank == max(settlement.total, Decimal(0))
            balance = amazon_balance(result, MAPPING)
            ledger += balance.ledger_movement.amount + balance.charges.amount
            assert ledger == balance.closing.amount
    assert carried >= 3
