"""The flow registry is the one description of the flows: every reader agrees with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ml_connector import config
from ml_connector.config import CadenceConfig, parse_config, parse_duration
from ml_connector.errors import ConfigurationError
from ml_connector.flows import registry
from ml_connector.flows.runner import flows_of
from ml_connector.sources.amazon.operations import OPERATIONS

SRC = Path(registry.__file__).parents[1]

CONFIG = """
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
[connections.m3]
company = "100"
division = "AAA"
"""


def test_every_flow_has_run_and_rebuilders():
    for spec in registry.FLOWS:
        module = spec.load()
        assert callable(module.run), spec.name
        assert registry.flow(spec.name) is module.run
        rebuilders = registry.rebuilders(spec.name)
        assert isinstance(module.REBUILDERS, dict), f"{spec.name} has no REBUILDERS table"
        assert all(callable(fn) for fn in rebuilders.values()), spec.name
    posting = [s.name for s in registry.FLOWS if registry.rebuilders(s.name)]
    assert set(posting) == {"items", "orders", "shipments", "stock_price", "settlements", "deferrals"}


def test_replay_finds_every_rebuilder_through_the_registry():
    from ml_connector.engine import replay

    registry.install_rebuilders()
    for spec in registry.FLOWS:
        for kind, fn in registry.rebuilders(spec.name).items():
            assert replay._rebuilders[kind] is fn


def test_the_order_respects_every_dependency():
    names = list(registry.NAMES)
    assert len(set(names)) == len(names)
    for spec in registry.FLOWS:
        for earlier in spec.after:
            assert earlier in names, f"{spec.name} runs after an unknown flow {earlier!r}"
            assert names.index(earlier) < names.index(spec.name), f"{spec.name} must run after {earlier}"
    assert names[-1] == "reconcile" and names.index("orders") < names.index("settlements")


def test_config_defaults_come_from_the_registry():
    conn = parse_config(CONFIG).connections[0]
    assert list(conn.flows) == list(registry.NAMES)
    assert flows_of(conn, None) == list(registry.NAMES)
    assert set(CadenceConfig.model_fields) == set(registry.NAMES)
    for spec in registry.FLOWS:
        assert conn.cadence_of(spec.name) == parse_duration(spec.cadence)
        assert spec.cadence in (CadenceConfig.model_fields[spec.name].description or "")


def test_a_flow_not_in_the_registry_is_refused_by_the_config_with_the_names():
    with pytest.raises(ConfigurationError) as info:
        parse_config(CONFIG.replace('erp = "m3"', 'erp = "m3"\nflows = ["orders", "invoices"]'))
    assert "invoices" in str(info.value)
    with pytest.raises(ConfigurationError):
        parse_config(CONFIG + '[connections.cadence]\ninvoices = "1h"\n')


def test_an_unknown_flow_gives_a_clear_message():
    with pytest.raises(ConfigurationError) as info:
        registry.flow("invoices")
    message = str(info.value)
    assert message.startswith("unknown flow 'invoices'; the flows are items, orders")
    assert "\n" not in message and "Traceback" not in message
    with pytest.raises(ConfigurationError):
        registry.spec("invoices")


def test_every_listed_amazon_operation_exists():
    for spec in registry.FLOWS:
        assert spec.amazon_operations <= set(OPERATIONS), spec.name


def test_no_second_copy_of_the_flow_list_in_the_code():
    """No module outside the registry spells the whole list of flows (a tuple, list, set or dict
    holding five or more flow names as literals)."""
    names = set(registry.NAMES)
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == Path(registry.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            items = (
                node.elts
                if isinstance(node, ast.Tuple | ast.List | ast.Set)
                else node.keys
                if isinstance(node, ast.Dict)
                else []
            )
            literal = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
            if len(literal & names) >= 5:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == [], offenders
    assert not hasattr(config, "FLOWS") and not hasattr(config, "DEFAULT_CADENCE")
