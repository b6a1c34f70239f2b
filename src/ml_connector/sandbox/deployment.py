"""A whole ml-connector deployment wired to the three sandboxes: what `ml-connector demo` runs, and
what the end-to-end and chaos tests run.

It starts the SP-API, ION + M3 and Acumatica simulators on 127.0.0.1, makes a private home (master
key, store, config file) and connects two sellers the way a person would with `ml-connector connect`:
a US + CA seller into M3 in summary mode, and a UK seller into Acumatica in invoice mode.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_connector.clock import Clock
from ml_connector.config import DeploymentConfig, load_config
from ml_connector.engine.store import Store
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.sandbox.server import RunningServer, serve_in_thread

M3_CONNECTION = "us-ca-m3"
ACUMATICA_CONNECTION = "uk-acumatica"

CONFIG_TEMPLATE = """\
# Written by the sandbox deployment: two demo sellers against the simulators.
time_scale = {time_scale}  # the sandboxes' time runs this much faster; so must the clients'

[store]
url = "{store_url}"

[[connections]]
name = "{m3}"
marketplaces = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]
erp = "m3"
mode = "summary"
split_by_period = true
customer_mode = "marketplace"

[connections.m3]
company = "100"
division = "AAA"
facility = "A01"
warehouse = "100"
customer_template = "AMZTEMPL"
order_type = "AMZ"

[[connections]]
name = "{acumatica}"
marketplaces = ["A1F83G8C2ARO7P"]
erp = "acumatica"
mode = "invoice"
customer_mode = "marketplace"

[connections.acumatica]
branch = "MAIN"
base_currency = "GBP"
warehouse = "WHOLESALE"
ar_control_accounts = ["11000"]
invoice_settlement = "clearing"
"""


@dataclass
class SandboxDeployment:
    """Use as a context manager; everything it starts is stopped and removed on exit."""

    time_scale: float = 600.0
    seed: int = 7
    home: Path | None = None
    store_url: str | None = None
    faults: dict[str, FaultPlan] = field(default_factory=dict)  # per sandbox: amazon, m3, acumatica
    order_count: int = 120
    days: int = 45

    clock: Clock = field(init=False)
    servers: dict[str, RunningServer] = field(init=False, default_factory=dict)
    apps: dict[str, Any] = field(init=False, default_factory=dict)
    config_path: Path = field(init=False)
    _stack: ExitStack = field(init=False, default_factory=ExitStack)
    _saved_env: dict[str, str | None] = field(init=False, default_factory=dict)

    def __enter__(self) -> SandboxDeployment:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    # -- pieces other code reads -------------------------------------------------------------------

    @property
    def config(self) -> DeploymentConfig:
        return load_config(self.config_path)

    def open_store(self) -> Store:
        config = self.config
        return Store.open(config.store_url, clock=self.clock, keep_runs=config.keep_runs)

    def state(self, name: str) -> Any:
        return self.apps[name].state.sandbox

    def requests(self, name: str) -> int:
        """Requests the sandbox has answered so far (API calls, retries included)."""
        return self.faults[name].requests

    def finish_reports(self) -> None:
        """Move the clock on until every report the SP-API sandbox is still producing is DONE (the
        newest settlement's is IN_QUEUE when the sandbox starts), for a test that wants every closed
        settlement fetchable whatever the time of day it runs at."""
        amazon = self.state("amazon")
        done = max(
            (r.queued_at + r.queue_seconds + r.work_seconds for r in amazon.reports.values()), default=0.0
        )
        if done > self.clock.monotonic():
            self.clock.advance(done - self.clock.monotonic() + 1)

    # -- setting up --------------------------------------------------------------------------------

    def _setenv(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _unsetenv(self, name: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ.pop(name, None)

    def _start(self) -> None:
        from ml_connector.engine import keys
        from ml_connector.engine.private import private_dir, write_private_text
        from ml_connector.sandbox.acumatica import app as acumatica_app
        from ml_connector.sandbox.amazon import app as amazon_app
        from ml_connector.sandbox.m3 import app as m3_app

        self.clock = Clock(self.time_scale)
        if self.home is None:
            self.home = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="ml-connector-")))
        private_dir(self.home)  # 0700, also a `demo --keep` directory the user made
        self._setenv("ML_CONNECTOR_HOME", str(self.home))
        self.config_path = self.home / "config.toml"
        self._setenv("ML_CONNECTOR_CONFIG", str(self.config_path))
        for name in ("ML_CONNECTOR_MASTER_KEY", "ML_CONNECTOR_NEW_MASTER_KEY", "ML_CONNECTOR_DATABASE_URL"):
            self._unsetenv(name)  # the operator's real key and store are never the demo's
        keys.create_key_file()

        factories = {
            "amazon": lambda f: amazon_app.create_app(
                clock=self.clock, seed=self.seed, faults=f, order_count=self.order_count, days=self.days
            ),
            "m3": lambda f: m3_app.create_app(clock=self.clock, seed=self.seed, faults=f),
            "acumatica": lambda f: acumatica_app.create_app(clock=self.clock, seed=self.seed, faults=f),
        }
        for name, factory in factories.items():
            plan = self.faults.setdefault(name, FaultPlan(seed=self.seed))  # also counts the requests
            app = factory(plan)
            self.apps[name] = app
            server = serve_in_thread(app, name=f"{name}-sandbox")
            self.servers[name] = server
            self._stack.callback(server.stop)

        store_url = self.store_url or f"sqlite:///{self.home / 'ml-connector.sqlite3'}"
        write_private_text(
            self.config_path,
            CONFIG_TEMPLATE.format(
                time_scale=self.time_scale,
                store_url=store_url,
                m3=M3_CONNECTION,
                acumatica=ACUMATICA_CONNECTION,
            ),
        )
        store = Store.open(store_url, clock=self.clock)
        try:
            self._connect(store, m3_app, acumatica_app)
        finally:
            store.close()

    def _connect(self, store: Store, m3_app, acumatica_app) -> None:
        """What `ml-connector connect amazon|m3|acumatica` stores, done directly."""
        from ml_connector.sandbox.acumatica import state as acumatica_state
        from ml_connector.sandbox.amazon.state import SELLER_ID, SandboxCredentials

        amazon = SandboxCredentials()
        amazon_secrets = {
            "client_id": amazon.client_id,
            "client_secret": amazon.client_secret,
            "refresh_token": amazon.refresh_token,
        }
        amazon_url = self.servers["amazon"].url
        for name, marketplaces, region in (
            (M3_CONNECTION, ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"], "na"),
            (ACUMATICA_CONNECTION, ["A1F83G8C2ARO7P"], "eu"),
        ):
            settings = {
                "region": region,
                "marketplaces": marketplaces,
                "sandbox_url": amazon_url,
                "seller_id": SELLER_ID,
            }
            store.ensure_connection(name, settings={"amazon": settings})
            store.save_credentials(name, "amazon", amazon_secrets)

        ionapi = m3_app.ionapi_document(self.servers["m3"].url)
        store.ensure_connection(
            M3_CONNECTION, erp="m3", settings={"m3": {"tenant": ionapi["ti"], "ion_url": ionapi["iu"]}}
        )
        store.save_credentials(M3_CONNECTION, "m3", ionapi)

        store.ensure_connection(
            ACUMATICA_CONNECTION,
            erp="acumatica",
            settings={
                "acumatica": {
                    "url": self.servers["acumatica"].url,
                    "tenant": acumatica_state.TENANT,
                    "endpoint_version": "24.200.001",
                }
            },
        )
        store.save_credentials(
            ACUMATICA_CONNECTION,
            "acumatica",
            {
                "client_id": acumatica_state.CLIENT_ID,
                "client_secret": acumatica_state.CLIENT_SECRET,
                "username": acumatica_state.USERNAME,
                "password": acumatica_state.PASSWORD,
            },
        )
