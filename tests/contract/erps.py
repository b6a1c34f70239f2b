"""One description per ERP of what the contract suite needs from it: documents to post, how to make
the ERP refuse one, how to make it misbehave, and how to count what it holds by key.

The suite (test_target_contract.py) says what every posting target must do; each ``Erp`` here only
says how to ask that of one target: the M3 sandbox, the Acumatica sandbox, and the fake target that
documents the protocol at its simplest (durable, non-idempotent, like an M3 "Add").
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ml_connector.clock import Clock
from ml_connector.errors import PermanentError, TransientError
from ml_connector.model.documents import CustomerDocument, Document, JournalDocument, SalesDocument, SalesLine
from ml_connector.model.journal import Journal, JournalLine
from ml_connector.model.money import Money
from ml_connector.transport.retry import RetryPolicy


class Erp(Protocol):
    """How the contract suite drives one ERP target."""

    name: str
    erp: str  # the store's erp column for the connection
    clock: Clock
    refusal_words: str  # the ERP's own words, expected in a refused record's error
    customer_key: str  # what counts() calls the marketplace customer

    @contextmanager
    def target(self, clock: Clock | None = None) -> Iterator[Any]: ...
    def customer(self) -> CustomerDocument: ...
    def sale(self, key: str, customer: str) -> SalesDocument: ...
    def journal(self, key: str) -> JournalDocument: ...
    def refused_journal(self, key: str) -> JournalDocument: ...
    def sale_keys(self, count: int, series: int = 0) -> list[str]: ...
    def journal_keys(self, count: int, series: int = 0) -> list[str]: ...
    def counts(self) -> Counter[str]: ...
    def storm(self) -> None: ...
    def calm(self) -> int: ...
    def after_kill(self) -> None: ...


def _order_keys(prefix: str, count: int, series: int) -> list[str]:
    return [f"{prefix}-{series:07d}-{i:07d}" for i in range(count)]


def _journal_keys(prefix: str, count: int, series: int) -> list[str]:
    return [f"{prefix}{series:03d}{i:05d}" for i in range(count)]


# --- the fake target -----------------------------------------------------------------------------


@dataclass
class ContractFakeTarget:
    """Durable (fsync'ed JSON lines, so a write survives SIGKILL) and non-idempotent; refuses the
    journals on a blocked account with an ERP-style message; in a storm, fails with 503 before
    writing or times out after writing, at random."""

    path: Path
    blocked_account: str = "6999"
    storm: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    _random: random.Random = field(default_factory=lambda: random.Random(11))

    def __enter__(self) -> ContractFakeTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _keys(self) -> list[str]:
        if not self.path.exists():
            return []
        return [json.loads(line)["key"] for line in self.path.read_text().splitlines() if line.strip()]

    def find(self, document: Document) -> str | None:
        ids = self.find_all(document)
        return ids[0] if ids else None

    def find_all(self, document: Document) -> list[str]:
        return [f"ERP-{i + 1}" for i, key in enumerate(self._keys()) if key == document.key]

    def post(self, document: Document) -> str:
        if isinstance(document, JournalDocument):
            for line in document.journal.lines:
                if line.account == self.blocked_account:
                    raise PermanentError(
                        "journal refused",
                        target_message=f"Account {line.account} is blocked",
                        field="account",
                    )
        roll = self._random.random()
        if roll < self.storm / 2:
            self.injected["503"] += 1
            raise TransientError("HTTP 503 Service Unavailable", retry_after=0.0)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps({"key": document.key}) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if roll < self.storm:
            self.injected["timeout after write"] += 1
            raise TransientError("read timeout")
        return f"ERP-{len(self._keys())}"


class FakeErp:
    name = "fake"
    erp = "m3"
    refusal_words = "Account 6999 is blocked"
    customer_key = "AMAZON-US"

    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock(1000.0)
        self.path = tmp_path / "fake-erp.jsonl"
        self.storm_rate = 0.0
        self._targets: list[ContractFakeTarget] = []

    @contextmanager
    def target(self, clock: Clock | None = None) -> Iterator[ContractFakeTarget]:
        target = ContractFakeTarget(self.path, storm=self.storm_rate)
        self._targets.append(target)
        yield target

    def customer(self) -> CustomerDocument:
        return CustomerDocument("AMAZON-US", "Amazon Amazon.com", "USD", "US")

    def sale(self, key: str, customer: str) -> SalesDocument:
        line = SalesLine("ITEM-1", "SKU-1", 1, Money(Decimal("19.99"), "USD"), order_item_id=key[-7:])
        return SalesDocument(key, "sales_order", customer, "USD", date(2026, 11, 20), (line,))

    def journal(self, key: str, account: str = "6570") -> JournalDocument:
        usd = lambda amount: Money(Decimal(amount), "USD")  # noqa: E731
        lines = (
            JournalLine("1930", usd("80.00"), usd("0"), "deposit", category="bank"),
            JournalLine(account, usd("20.00"), usd("0"), "fees", category="fees"),
            JournalLine("3010", usd("0"), usd("100.00"), "sales", category="sales"),
        )
        return JournalDocument(
            key, Journal(key, "USD", date(2026, 11, 20), "Amazon settlement", lines, settlement_id=key)
        )

    def refused_journal(self, key: str) -> JournalDocument:
        return self.journal(key, account="6999")

    def sale_keys(self, count: int, series: int = 0) -> list[str]:
        return _order_keys("111", count, series)

    def journal_keys(self, count: int, series: int = 0) -> list[str]:
        return _journal_keys("9100", count, series)

    def counts(self) -> Counter[str]:
        return Counter(ContractFakeTarget(self.path)._keys())

    def storm(self) -> None:
        self.storm_rate = 0.4

    def calm(self) -> int:
        self.storm_rate = 0.0
        return sum(sum(t.injected.values()) for t in self._targets)

    def after_kill(self) -> None:
        return None


# --- Infor M3 --------------------------------------------------------------------------------------


class M3Erp:
    name = "m3"
    erp = "m3"
    refusal_words = "Account 6999"
    customer_key = "AMAZON-US"

    def __init__(self, env: Any) -> None:
        self.env = env
        self.clock = env.clock

    @contextmanager
    def target(self, clock: Clock | None = None) -> Iterator[Any]:
        from m3.conftest import settings
        from ml_connector.targets.m3 import M3Target, parse_ionapi

        clock = clock or self.clock
        target = M3Target(
            parse_ionapi(self.env.ionapi),
            settings(),
            clock=clock,
            retry=RetryPolicy(attempts=12, base=0.5, cap=8.0, clock=clock),
        )
        with target:
            yield target

    def customer(self) -> CustomerDocument:
        from m3.conftest import customer_doc

        return customer_doc()

    def sale(self, key: str, customer: str) -> SalesDocument:
        from m3.conftest import order_doc

        return order_doc(key, customer)

    def journal(self, key: str) -> JournalDocument:
        from m3.conftest import journal_doc

        return journal_doc(key)

    def refused_journal(self, key: str) -> JournalDocument:
        from m3.conftest import journal_doc

        self.env.sandbox.world.blocked_accounts.add("6999")
        return journal_doc(key, fee_account="6999")

    def sale_keys(self, count: int, series: int = 0) -> list[str]:
        return _order_keys("114", count, series)

    def journal_keys(self, count: int, series: int = 0) -> list[str]:
        return _journal_keys("2407", count, series)

    def counts(self) -> Counter[str]:
        sandbox = self.env.sandbox
        counts: Counter[str] = Counter(c["YREF"] for c in sandbox.customers())
        counts.update(o["head"]["CUOR"] for o in sandbox.orders())
        counts.update(v["lines"][0]["VTXT"].split()[0] for v in sandbox.vouchers())
        return counts

    def storm(self) -> None:
        faults = self.env.faults
        faults.rate_429, faults.rate_500, faults.rate_drop, faults.rate_expire_token = 0.25, 0.05, 0.05, 0.05

    def calm(self) -> int:
        faults = self.env.faults
        faults.rate_429 = faults.rate_500 = faults.rate_drop = faults.rate_expire_token = 0.0
        return sum(faults.injected.values())

    def after_kill(self) -> None:
        return None


# --- Acumatica ---------------------------------------------------------------------------------------


class AcumaticaErp:
    name = "acumatica"
    erp = "acumatica"
    refusal_words = "'Account' cannot be found in the system."
    customer_key = "AMZ-US"

    def __init__(self, env: Any) -> None:
        self.env = env
        self.clock = env.clock

    @contextmanager
    def target(self, clock: Clock | None = None) -> Iterator[Any]:
        from acumatica.conftest import CREDENTIALS
        from ml_connector.targets.acumatica import AcumaticaTarget

        clock = clock or self.clock
        target = AcumaticaTarget(
            self.env.settings(),
            CREDENTIALS,
            clock=clock,
            retry=RetryPolicy(attempts=12, base=0.5, cap=8.0, clock=clock),
        )
        with target:
            yield target

    def customer(self) -> CustomerDocument:
        from acumatica.conftest import customer_doc

        return customer_doc()

    def sale(self, key: str, customer: str) -> SalesDocument:
        from acumatica.conftest import invoice_doc

        return invoice_doc(key, customer)

    def journal(self, key: str) -> JournalDocument:
        from acumatica.conftest import journal_doc

        return journal_doc(key)

    def refused_journal(self, key: str) -> JournalDocument:
        """A journal on an account the tenant does not have: Acumatica refuses the line."""
        from acumatica.conftest import journal_doc

        return journal_doc(key, account_for_sales="99999")

    def sale_keys(self, count: int, series: int = 0) -> list[str]:
        return _order_keys("113", count, series)

    def journal_keys(self, count: int, series: int = 0) -> list[str]:
        return _journal_keys("4000", count, series)

    def counts(self) -> Counter[str]:
        records = self.env.sandbox.records
        counts: Counter[str] = Counter(r["CustomerID"] for r in records["Customer"].values())
        counts.update(r["CustomerOrder"] for r in records["SalesInvoice"].values())
        counts.update(
            r["Description"].removeprefix("AMZ-STL ") for r in records["JournalTransaction"].values()
        )
        return counts

    def storm(self) -> None:
        self.env.faults.__dict__.update(
            {
                "rate_429": 0.25,
                "rate_500": 0.08,
                "rate_503": 0.08,
                "rate_drop": 0.04,
                "rate_expire_token": 0.05,
            }
        )

    def calm(self) -> int:
        faults = self.env.faults
        faults.rate_429 = faults.rate_500 = faults.rate_503 = faults.rate_drop = faults.rate_expire_token = (
            0.0
        )
        return sum(faults.injected.values())

    def after_kill(self) -> None:
        """A killed process cannot sign out: its seat comes back when its token expires."""
        self.env.clock.advance(3601)
        self.env.sandbox.expire_idle()
