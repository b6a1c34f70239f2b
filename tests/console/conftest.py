"""One demo world for the console's tests: the two demo sellers after a first pass of every flow,
with the M3 seller on a mapping that lacks the subscription-fee rules (so settlements quarantine),
and one user per role. The sandboxes stay up, so retries and pings reach them."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from ml_connector.engine.store import Store
from ml_connector.flows.registry import install_rebuilders
from ml_connector.flows.runner import flows_of, run_flow
from ml_connector.ops import users
from ml_connector.sandbox.deployment import M3_CONNECTION, SandboxDeployment

PASSWORD = "correct horse battery"
ROLES = ("viewer", "finance", "operator", "admin")
SUBSCRIPTION_FEE = ("ServiceFee", "other-transaction", "Subscription Fee")  # the sandbox's monthly fee


@dataclass
class World:
    deployment: SandboxDeployment
    store: Store
    home: Path

    @property
    def config_path(self) -> Path:
        return self.deployment.config_path


def mapping_without_subscription() -> str:
    """The shipped mapping minus every rule that would map the subscription fee."""
    text = resources.files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
    blocks = re.split(r"(?m)^(?=\[\[rule\]\])", text)
    kept = []
    for block in blocks:
        if block.startswith("[[rule]]"):
            rule = tomllib.loads(block)["rule"][0]
            fields = (rule["transaction_type"], rule["amount_type"], rule["amount_description"])
            if all(
                fnmatch.fnmatch(v.lower(), p.lower()) for v, p in zip(SUBSCRIPTION_FEE, fields, strict=True)
            ):
                continue
        kept.append(block)
    assert len(kept) < len(blocks)
    return "".join(kept)


def make_world(home: Path) -> tuple[SandboxDeployment, Store]:
    deployment = SandboxDeployment(home=home).__enter__()
    (home / f"mapping-{M3_CONNECTION}.toml").write_text(mapping_without_subscription(), "utf-8")
    config = deployment.config_path.read_text("utf-8")
    deployment.config_path.write_text(
        config.replace(
            "split_by_period = true", f'split_by_period = true\nmapping = "mapping-{M3_CONNECTION}.toml"'
        ),
        "utf-8",
    )
    store = deployment.open_store()
    install_rebuilders()
    for connection in deployment.config.connections:
        for flow in flows_of(connection, None):
            run_flow(store, connection, flow, clock=deployment.clock)
    for role in ROLES:
        users.add_user(store, role, role, PASSWORD)
    return deployment, store


@pytest.fixture(scope="package")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("console") / "home"
    deployment, store = make_world(home)
    try:
        yield World(deployment, store, home)
    finally:
        store.close()
        deployment.__exit__(None, None, None)
