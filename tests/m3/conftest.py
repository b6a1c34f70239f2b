"""The ION + M3 sandbox over real loopback HTTP, a time-scaled clock, and M3 targets built on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from ml_connector.clock import Clock
from ml_connector.model.documents import CustomerDocument, JournalDocument, SalesDocument, SalesLine
from ml_connector.model.journal import Journal, JournalLine
from ml_connector.model.money import Money
from ml_connector.model.orders import Address
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.sandbox.m3 import world as tenant
from ml_connector.sandbox.m3.app import M3Sandbox, create_app, ionapi_document
from ml_connector.sandbox.server import RunningServer, serve_in_thread
from ml_connector.targets.m3 import M3Settings, M3Target, parse_ionapi
from ml_connector.transport.retry import RetryPolicy

SCALE = 200.0  # sandbox time runs 200x: a 7200 s token lives 36 s, backoffs shrink likewise
POSTING_DATE = date(2026, 11, 20)


def settings(**overrides) -> M3Settings:
    values = dict(
        company=tenant.COMPANY,
        division=tenant.DIVISION,
        facility=tenant.FACILITY,
        warehouse=tenant.WAREHOUSE,
        customer_template=tenant.TEMPLATE_CUSTOMER,
        order_type=tenant.ORDER_TYPE,
    )
    values.update(overrides)
    return M3Settings(**values)


@dataclass
class M3Env:
    server: RunningServer
    sandbox: M3Sandbox
    faults: FaultPlan
    clock: Clock

    @property
    def ionapi(self) -> dict:
        return ionapi_document(self.server.url)

    def target(self, *, attempts: int = 8, **overrides) -> M3Target:
        return M3Target(
            parse_ionapi(self.ionapi),
            settings(**overrides),
            clock=self.clock,
            retry=RetryPolicy(attempts=attempts, base=0.5, cap=8.0, clock=self.clock),
        )


@pytest.fixture
def m3() -> Iterator[M3Env]:
    clock = Clock(SCALE)
    faults = FaultPlan(seed=11)
    app = create_app(clock=clock, faults=faults)
    with serve_in_thread(app, name="m3-sandbox") as server:
        yield M3Env(server, app.state.sandbox, faults, clock)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def journal_doc(
    key: str = "24071630011", *, fee_account: str = "6570", posting_date: date = POSTING_DATE
) -> JournalDocument:
    lines = (
        JournalLine(
            "1930", usd("812.40"), usd("0"), "deposit", dimensions=(("AIT2", "AMZUS"),), category="bank"
        ),
        JournalLine(
            "3010",
            usd("0"),
            usd("1000.00"),
            "product sales",
            dimensions=(("AIT2", "AMZUS"),),
            category="sales",
        ),
        JournalLine("2610", usd("0"), usd("12.60"), "shipping credits", category="sales"),
        JournalLine(fee_account, usd("150.00"), usd("0"), "referral fees", category="fees"),
        JournalLine(fee_account, usd("50.20"), usd("0"), "FBA fees", category="fees"),
    )
    journal = Journal(key, "USD", posting_date, "Amazon settlement", lines, settlement_id=key)
    return JournalDocument(key, journal)


def customer_doc(country: str = "US", name: str = "Amazon Amazon.com") -> CustomerDocument:
    """As the orders flow makes it (flows/documents.py: one customer per marketplace)."""
    return CustomerDocument(f"AMAZON-{country}", name, "USD", country)


def mapped_products(count: int = 3) -> list:
    return [p for p in products() if p.m3_item and len(p.sku) <= 30][:count]


def order_doc(order_id: str, customer: str, *, lines: int = 2, item: str | None = None) -> SalesDocument:
    items = tuple(
        SalesLine(
            item or p.m3_item,
            p.sku,
            n + 1,
            usd(str(p.price("ATVPDKIKX0DER"))),
            order_item_id=f"{order_id[-7:]}{n:07d}",
        )
        for n, p in enumerate(mapped_products(lines))
    )
    return SalesDocument(
        order_id,
        "sales_order",
        customer,
        "USD",
        POSTING_DATE,
        items,
        marketplace_id="ATVPDKIKX0DER",
        ship_to=Address(
            "Jane Buyer", "1 Main St", "Apt 2", "Seattle", "WA", "98101", "US", "+1 206 555 0100"
        ),
    )
