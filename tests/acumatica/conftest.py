"""The Acumatica sandbox over real loopback HTTP, a time-scaled clock, and targets built on it.

Every test that uses ``acumatica`` ends by asserting that the sandbox holds no open session and no
session that was never signed out: the licence-seat leak the issue is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from ml_connector.clock import Clock
from ml_connector.model.documents import CustomerDocument, JournalDocument, SalesDocument, SalesLine
from ml_connector.model.journal import Journal, JournalLine
from ml_connector.model.money import Money
from ml_connector.sandbox.acumatica import state as world
from ml_connector.sandbox.acumatica.app import create_app
from ml_connector.sandbox.acumatica.state import AcumaticaSandbox, SandboxConfig
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.sandbox.server import RunningServer, serve_in_thread
from ml_connector.targets.acumatica import AcumaticaCredentials, AcumaticaSettings, AcumaticaTarget
from ml_connector.transport.retry import RetryPolicy

BASE_PATH = "/erp"  # a virtual directory, as on most on-premises instances
SCALE = 100.0  # sandbox time runs 100x: a 3600 s token lives 36 s, backoffs shrink likewise
CREDENTIALS = AcumaticaCredentials(world.USERNAME, world.PASSWORD, world.CLIENT_ID, world.CLIENT_SECRET)


@dataclass
class Acumatica:
    server: RunningServer
    sandbox: AcumaticaSandbox
    faults: FaultPlan
    clock: Clock

    @property
    def site(self) -> str:
        return self.server.url + BASE_PATH

    def settings(self, **overrides) -> AcumaticaSettings:
        values = dict(
            url=self.site,
            tenant=world.TENANT,
            endpoint_version="24.200.001",
            base_currency="GBP",  # the sandbox tenant keeps the UK seller's books
            ar_control_accounts=frozenset({world.AR_CONTROL_ACCOUNT}),
            clearing_account=world.CLEARING_ACCOUNT,
            page_size=15,
        )
        values.update(overrides)
        return AcumaticaSettings(**values)

    def retry(self, attempts: int = 8) -> RetryPolicy:
        return RetryPolicy(attempts=attempts, base=0.5, cap=8.0, clock=self.clock)

    def target(
        self, credentials: AcumaticaCredentials = CREDENTIALS, attempts: int = 8, **overrides
    ) -> AcumaticaTarget:
        return AcumaticaTarget(
            self.settings(**overrides), credentials, clock=self.clock, retry=self.retry(attempts)
        )


@pytest.fixture
def clock() -> Clock:
    return Clock(SCALE)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig()


@pytest.fixture
def acumatica(clock: Clock, sandbox_config: SandboxConfig) -> Iterator[Acumatica]:
    faults = FaultPlan(seed=11)
    app = create_app(clock=clock, faults=faults, config=sandbox_config, base_path=BASE_PATH)
    with serve_in_thread(app, name="acumatica-test") as server:
        env = Acumatica(server, app.state.sandbox, faults, clock)
        yield env
        env.faults.__dict__.update(FaultPlan().__dict__)
        assert env.sandbox.open_sessions == 0, "an API session was left open"
        assert env.sandbox.unclosed_sessions == 0, "an API session was never signed out"


MAPPED = [p for p in products() if p.acumatica_item]
UNMAPPED = [p for p in products() if not p.acumatica_item]
US = "ATVPDKIKX0DER"


def customer_doc(country: str = "US", marketplace: str = US) -> CustomerDocument:
    return CustomerDocument(
        key=f"MKT-{marketplace}", name=f"Amazon {country}", currency="USD", country_code=country
    )


def invoice_doc(
    order_id: str, customer_id: str = "AMZ-US", count: int = 2, kind: str = "sales_invoice"
) -> SalesDocument:
    lines = tuple(
        SalesLine(
            item_id=product.acumatica_item,
            sku=product.sku,
            quantity=index + 1,
            unit_price=Money(product.price(US), "USD"),
            description=product.title,
            order_item_id=f"{order_id[-7:]}{index:05d}",
        )
        for index, product in enumerate(MAPPED[:count])
    )
    return SalesDocument(
        key=order_id,
        kind=kind,
        customer_id=customer_id,
        currency="USD",
        order_date=date(2025, 3, 2),
        lines=lines,
    )


def journal_doc(
    settlement_id: str,
    fees: str = "187.60",
    deposit: str = "812.40",
    account_for_sales: str = world.CLEARING_ACCOUNT,
) -> JournalDocument:
    usd = lambda amount: Money(Decimal(amount), "USD")  # noqa: E731
    zero = usd("0")
    sales = Decimal(fees) + Decimal(deposit)
    journal = Journal(
        reference=settlement_id,
        currency="USD",
        posting_date=date(2025, 3, 5),
        description=f"Amazon settlement {settlement_id}",
        settlement_id=settlement_id,
        lines=(
            JournalLine("10250", usd(deposit), zero, "Amazon deposit", settlement_id, category="bank"),
            JournalLine("64010", usd(fees), zero, "Amazon fees", category="fees"),
            JournalLine(
                account_for_sales, zero, Money(sales, "USD"), "Amazon sales cleared", category="sales"
            ),
        ),
    )
    return JournalDocument(key=settlement_id, journal=journal)


@pytest.fixture
def make_docs() -> Callable:
    return invoice_doc
