"""Each flow calls on Amazon only what its row of the flow registry (flows/registry.py) says, so that
``ping``'s removal warnings (and the removal guard in tests/amazon/test_removals.py) see every call."""

from __future__ import annotations

from ml_connector.flows import registry
from ml_connector.flows.runner import run_flow


def test_each_flow_calls_only_what_the_table_says(deployment, store):
    amazon = deployment.state("amazon")
    seen: dict[str, set[str]] = {}
    for _ in range(2):  # the second pass reaches what the first left for later (feeds, shipments)
        for conn in deployment.config.connections:
            for flow in registry.NAMES:
                if flow not in conn.flows:
                    continue
                before = dict(amazon.calls)
                run_flow(store, conn, flow, clock=deployment.clock)
                called = {op for op, n in amazon.calls.items() if n > before.get(op, 0)}
                seen.setdefault(flow, set()).update(called)
    assert {"orders", "settlements", "reconcile", "items", "stock_price", "shipments"} <= set(seen)
    assert seen["orders"], "the orders flow called nothing on Amazon: the measurement is broken"
    for flow, called in seen.items():
        extra = called - registry.spec(flow).amazon_operations
        assert extra == set(), f"the {flow} flow called {sorted(extra)}: add them to its registry row"
