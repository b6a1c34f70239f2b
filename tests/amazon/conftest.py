"""Fixtures: the SP-API sandbox served on real loopback HTTP, a client pointed at it, one shared
time-scaled clock so usage plans and token expiry run fast without real sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_connector.clock import Clock
from ml_connector.sandbox.amazon.app import create_app
from ml_connector.sandbox.amazon.state import SELLER_ID
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.sandbox.server import serve_in_thread
from ml_connector.sources.amazon import LwaCredentials, SpApiClient
from ml_connector.transport.retry import RetryPolicy


class Sandbox:
    def __init__(
        self, *, scale: float = 200.0, faults: FaultPlan | None = None, clock: Clock | None = None, **options
    ) -> None:
        self.clock = clock or Clock(scale)
        self.app = create_app(clock=self.clock, faults=faults, **options)
        self.state = self.app.state.sandbox
        self.faults = self.app.state.faults
        self.server = serve_in_thread(self.app, name="amazon-test")
        self.url = self.server.url

    def client(
        self, *, credentials: LwaCredentials | None = None, attempts: int = 8, recorder=None
    ) -> SpApiClient:
        import httpx

        creds = self.state.credentials
        credentials = credentials or LwaCredentials(creds.client_id, creds.client_secret, creds.refresh_token)
        hooks = {"response": [recorder]} if recorder else {}
        http = httpx.Client(timeout=10, event_hooks=hooks)
        return SpApiClient(
            credentials,
            seller_id=SELLER_ID,
            base_url=self.url,
            lwa_url=self.url + "/auth/o2/token",
            clock=self.clock,
            retry=RetryPolicy(attempts=attempts, base=1.0, cap=120.0, clock=self.clock),
            http=http,
        )

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.stop()


@pytest.fixture
def make_sandbox() -> Iterator:
    made: list[Sandbox] = []

    def make(**options) -> Sandbox:
        box = Sandbox(**options)
        made.append(box)
        return box

    yield make
    for box in made:
        box.stop()
