"""The guard against Amazon's removals: Amazon's own models say what is deprecated, and nothing the
client calls may be deprecated without a removal date and a replacement on the default path.

The models are the shipped official ones (tests/amazon/models, copied from shared/reference). The
client's operations are read from its source: every operation name it passes to the transport."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from ml_connector.flows import registry
from ml_connector.sources.amazon import operations
from ml_connector.sources.amazon.operations import OPERATIONS

MODELS = Path(__file__).parent / "models"
SOURCES = Path(operations.__file__).parent
SRC = SOURCES.parents[1]
TESTS = Path(__file__).parents[1]


def _model_operations() -> dict[tuple[str, str, str], dict]:
    """(model file, METHOD, path) -> the operation object, over every shipped model."""
    found = {}
    for path in MODELS.glob("*.json"):
        model = json.loads(path.read_text())
        for route, methods in (model.get("paths") or {}).items():
            for method, op in methods.items():
                if isinstance(op, dict) and "operationId" in op:
                    found[(path.name, method.upper(), route)] = op
    return found


MODEL = _model_operations()


def _called_by_client() -> set[str]:
    """Every Amazon operation name a source module passes to a call (``get_json(client, "getOrder", ...)``,
    ``transport.call(...)``, ``get_pages(client, "listPayouts", ...)``): string arguments that name an
    operation of a shipped model (or its client-side V0 twin)."""
    known = {op["operationId"] for op in MODEL.values()}
    known |= {f"{name}V0" for name in known}
    names = set()
    for path in SOURCES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in known:
                        names.add(arg.value)
    return names


def test_every_operation_the_client_calls_is_in_the_table():
    called = _called_by_client()
    assert len(called) >= 20, called  # the reader found the calls (a refactor must keep it working)
    assert called - set(OPERATIONS) == set(), "add these to sources/amazon/operations.py"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_operation_is_amazons_own(name):
    op = OPERATIONS[name]
    model = MODEL.get((op.model, op.method, op.path))
    assert model is not None, f"{name}: {op.method} {op.path} is not in {op.model}"
    assert model["operationId"] == op.operation_id


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_nothing_deprecated_without_a_removal_date_and_a_tested_replacement(name):
    op = OPERATIONS[name]
    deprecated = bool(MODEL[(op.model, op.method, op.path)].get("deprecated"))
    if deprecated:
        assert op.removal is not None, f"Amazon's model marks {name} deprecated: give its removal date"
    if op.removal is None:
        return
    assert op.replacement, f"{name} is removed on {op.removal}: name the operation that replaces it"
    replacement = OPERATIONS[op.replacement]
    assert replacement.removal is None, f"{name}'s replacement {op.replacement} is being removed too"
    assert not MODEL[(replacement.model, replacement.method, replacement.path)].get("deprecated")
    assert op.replacement in _called_by_client(), f"the client never calls {op.replacement}"
    served = (SRC / "sandbox" / "amazon" / "app.py").read_text()
    assert f'"{op.replacement}"' in served, f"the sandbox does not serve {op.replacement}: untested"


def test_the_flows_default_paths_use_nothing_amazon_is_removing():
    for spec in registry.FLOWS:
        removed = sorted(n for n in spec.amazon_operations if OPERATIONS[n].removal is not None)
        assert removed == [], f"the {spec.name} flow still calls {removed}"


def test_ping_names_a_removal_with_its_date(monkeypatch):
    from ml_connector.flows.ping import ping_warnings

    class Conn:
        flows = ["orders", "settlements"]

    assert ping_warnings(Conn()) == []  # the default paths
    orders = dataclasses.replace(
        registry.spec("orders"), amazon_operations=frozenset({"getOrdersV0", "getOrder"})
    )
    monkeypatch.setitem(registry._BY_NAME, "orders", orders)
    (warning,) = ping_warnings(Conn())
    assert "getOrdersV0" in warning and "2027-03-27" in warning and "searchOrders" in warning


def test_a_removed_operation_is_logged_once_when_called(caplog):
    operations._warned.discard("getOrdersV0")
    with caplog.at_level("WARNING", logger="ml_connector.sources.amazon.operations"):
        operations.note_call("getOrdersV0")
        operations.note_call("getOrdersV0")
        operations.note_call("searchOrders")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "2027-03-27" in messages[0]


REFERENCE = SRC.parents[2] / "shared" / "reference" / "amazon" / "models"


def test_the_models_read_are_the_shipped_official_ones():
    """The copies the guard reads are byte for byte the reference models (shared/reference)."""
    if not REFERENCE.is_dir():
        pytest.fail(f"the shared reference is missing at {REFERENCE}")  # never a skip
    models = {op.model for op in OPERATIONS.values()}
    for name in sorted(models):
        assert (MODELS / name).read_bytes() == (REFERENCE / name).read_bytes(), (
            f"{name} differs from {REFERENCE}"
        )


def test_the_default_configuration_reads_orders_2026_and_finances_2024():
    """A connection configured with the defaults reads orders through Orders 2026-01-01 and money
    movements through Finances 2024-06-19; v0 is only what Amazon is not removing."""
    from ml_connector.config import ConnectionConfig
    from ml_connector.sources.amazon.operations import removal_warnings

    factory = ConnectionConfig.model_fields["flows"].default_factory
    assert factory is not None
    flows = factory()  # type: ignore[call-arg]  # the flows a connection runs unless told otherwise
    called = registry.amazon_operations(flows)  # the flow registry: what each flow calls
    models = {OPERATIONS[name].model for name in called}
    assert {"orders_2026-01-01.json", "finances_2024-06-19.json"} <= models
    for name in called:
        op = OPERATIONS[name]
        if op.model.startswith("orders"):
            assert op.model == "orders_2026-01-01.json" or name == "confirmShipment", name
        if op.model == "financesV0.json":
            assert name == "listFinancialEventGroups", name  # not scheduled for removal
    assert removal_warnings(called) == []


def test_every_fallback_is_documented_with_its_removal_date():
    design = (SRC.parents[1] / "docs" / "DESIGN.md").read_text()
    for name, op in OPERATIONS.items():
        if op.removal is not None:
            assert op.removal.isoformat() in design, f"DESIGN.md does not give {name}'s removal date"
    for method in ("get_orders_v0", "get_order_v0", "list_financial_events_by_group"):
        assert f"`{method}`" in design, f"DESIGN.md does not name the fallback {method}"
