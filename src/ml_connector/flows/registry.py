"""The one description of the flows: name, title, default cadence, dependencies, Amazon operations.

Everything that needs to know the flows reads this table: the configuration (names, default
cadences, `[connections.cadence]` keys), the executors and `sync` (the dependency order), the CLI
(the names it accepts), replay (each flow's rebuilders), the console (titles) and `ping` (the Amazon
operations a connection's flows call, for removal warnings). Adding a flow is one row here plus its
module, which provides ``run(ctx) -> FlowSummary`` and ``REBUILDERS`` (record kind -> rebuilder).

This module imports no flow module until a flow is asked for (config imports it, and the flows
import config).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ml_connector.errors import ConfigurationError

if TYPE_CHECKING:
    from ml_connector.flows.context import FlowContext, FlowSummary

    FlowRun = Callable[[FlowContext], FlowSummary]


@dataclass(frozen=True)
class FlowSpec:
    name: str
    title: str  # what a person reads (console filters, docs)
    cadence: str  # how often `run` / the workers run it unless [connections.cadence] says otherwise
    after: tuple[str, ...]  # flows whose results it reads: they run before it in a pass
    amazon_operations: frozenset[str]  # SP-API operations it calls (checked against the sandbox)
    module: str
    noun: str = "records"  # what its summary line counts ("12 orders posted")

    def load(self) -> ModuleType:
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise ConfigurationError(
                f"flow {self.name!r} cannot be loaded ({exc}); reinstall ml-connector"
            ) from None


# In dependency order: a pass of `sync all` (and the queue's dispatcher, per connection) runs them so.
FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        "items",
        "SKUs",
        "24h",
        (),
        frozenset({"searchListingsItems"}),
        "ml_connector.flows.items",
        noun="SKUs",
    ),
    # orders need the SKU -> item map
    FlowSpec(
        "orders",
        "Orders",
        "15m",
        ("items",),
        frozenset({"searchOrders", "getOrder"}),
        "ml_connector.flows.orders",
        noun="orders",
    ),
    # a shipment confirms an order posted as a sales order
    FlowSpec(
        "shipments",
        "Shipments",
        "15m",
        ("orders",),
        frozenset({"getOrder", "confirmShipment"}),
        "ml_connector.flows.shipments",
        noun="shipments",
    ),
    FlowSpec(
        "stock_price",
        "Stock & price",
        "15m",
        ("items",),
        frozenset(
            {
                "searchListingsItems",
                "getListingsItem",
                "patchListingsItem",
                "createFeedDocument",
                "createFeed",
                "getFeed",
                "getFeedDocument",
            }
        ),
        "ml_connector.flows.stock_price",
        noun="listings",
    ),
    # in invoice mode the journal clears the orders' invoices
    FlowSpec(
        "settlements",
        "Settlements",
        "24h",
        ("orders",),
        frozenset({"getReports", "getReport", "getReportDocument", "listFinancialEventGroups"}),
        "ml_connector.flows.settlements",
        noun="settlements",
    ),
    # month-end accruals of what the settlements' payouts still hold back
    FlowSpec(
        "deferrals",
        "Deferrals",
        "24h",
        ("settlements",),
        frozenset({"listTransactions"}),
        "ml_connector.flows.deferrals",
    ),
    # ties out what the others posted: last
    FlowSpec(
        "reconcile",
        "Reconcile",
        "24h",
        ("orders", "settlements", "deferrals"),
        frozenset(
            {"listFinancialEventGroups", "listTransactions", "listSummary", "listPayouts", "listBalances"}
        ),
        "ml_connector.flows.reconcile",
        noun="settlements",
    ),
)

NAMES: tuple[str, ...] = tuple(spec.name for spec in FLOWS)  # the dependency order
_BY_NAME: dict[str, FlowSpec] = {spec.name: spec for spec in FLOWS}


def unknown(name: str, *, extra: str = "") -> ConfigurationError:
    """The one message for a flow name that is not in the table."""
    return ConfigurationError(f"unknown flow {name!r}; the flows are {', '.join(NAMES)}{extra}")


def spec(name: str) -> FlowSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise unknown(name) from None


def flow(name: str) -> FlowRun:
    """The flow's ``run`` (its module is imported now, not before)."""
    return spec(name).load().run


def rebuilders(name: str) -> Mapping[str, Any]:
    """The flow's replay rebuilders: record kind -> ``fn(store, record, source) -> (document, target)``."""
    return getattr(spec(name).load(), "REBUILDERS", {})


def install_rebuilders() -> None:
    """Register every flow's rebuilders with replay (replay, the console's retry, run-now)."""
    from ml_connector.engine.replay import register_rebuilder

    for s in FLOWS:
        for kind, fn in rebuilders(s.name).items():
            register_rebuilder(kind, fn)


def in_order(names: Iterable[str]) -> list[str]:
    """The given flow names in dependency order (names not in the table are dropped)."""
    wanted = set(names)
    return [n for n in NAMES if n in wanted]


def titles() -> dict[str, str]:
    return {s.name: s.title for s in FLOWS}


def amazon_operations(names: Iterable[str]) -> set[str]:
    """Every SP-API operation these flows call."""
    return {op for n in in_order(names) for op in _BY_NAME[n].amazon_operations}


def order_index(name: str) -> int:
    """Position in the dependency order (unknown names last: old records of a removed flow)."""
    return NAMES.index(name) if name in _BY_NAME else len(NAMES)
