"""Orders benchmark: sync N orders from the SP-API sandbox at Amazon's documented rates
(time-scaled) and compare the time taken with the floor the usage plans allow.

    .venv/bin/python bench/orders_bench.py [--orders 5000] [--v0-orders 1000] [--scale 1000]

Printed per path: simulated wall time / floor, API calls per order, 429 count. The floor of a path
is the time its busiest operation needs after its burst: max over operations of
(calls - burst) / rate. Goal (issue 4): within 1.15x of the floor and at most 0.02 calls per order
on the Orders 2026-01-01 path. The v0 path (getOrders + one getOrderItems per order) is shown for
comparison; it runs fewer orders by default because its floor is ~100x longer.
"""

from __future__ import annotations

import argparse
import math
from datetime import timedelta

import httpx

from ml_connector.clock import Clock
from ml_connector.sandbox.amazon.app import create_app
from ml_connector.sandbox.amazon.state import SELLER_ID
from ml_connector.sandbox.catalog import MARKETPLACES
from ml_connector.sandbox.server import serve_in_thread
from ml_connector.sources.amazon import LwaCredentials, SpApiClient
from ml_connector.sources.amazon.limits import USAGE_PLANS
from ml_connector.transport.retry import RetryPolicy


def floor_seconds(calls: dict[str, int]) -> float:
    return max(
        (
            max(0, count - USAGE_PLANS[op].burst) / USAGE_PLANS[op].rate
            for op, count in calls.items()
            if op in USAGE_PLANS
        ),
        default=0.0,
    )


def run(path: str, orders: int, scale: float) -> dict:
    clock = Clock(scale)
    app = create_app(clock=clock, order_count=orders, days=60)
    state = app.state.sandbox
    with serve_in_thread(app, name="amazon-bench") as server:
        creds = state.credentials
        client = SpApiClient(
            LwaCredentials(creds.client_id, creds.client_secret, creds.refresh_token),
            seller_id=SELLER_ID,
            base_url=server.url,
            lwa_url=server.url + "/auth/o2/token",
            clock=clock,
            retry=RetryPolicy(attempts=10, base=1.0, cap=300.0, clock=clock),
            http=httpx.Client(timeout=30),
        )
        client.auth.access_token()  # log in before the clock starts: LWA is not an SP-API usage plan
        after = clock.now() - timedelta(days=61)
        started = clock.monotonic()
        fetch = client.search_orders if path == "2026" else client.get_orders_v0
        count = sum(len(page.orders) for page in fetch(list(MARKETPLACES), after))
        elapsed = clock.monotonic() - started
        calls = {op: n for op, n in client.calls.items()}
        client.close()
    floor = floor_seconds(calls)
    return {
        "path": path,
        "orders": count,
        "expected": len(state.orders),
        "elapsed": elapsed,
        "floor": floor,
        "ratio": elapsed / floor if floor else math.nan,
        "calls_per_order": sum(calls.values()) / max(count, 1),
        "throttled": sum(state.throttled.values()),
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000, help="orders on the Orders 2026-01-01 path")
    parser.add_argument("--v0-orders", type=int, default=1000, help="orders on the v0 comparison path")
    parser.add_argument("--scale", type=float, default=1000.0, help="simulated seconds per real second")
    parser.add_argument("--v0-scale", type=float, default=200.0, help="time scale of the v0 run")
    args = parser.parse_args()
    print(
        f"{'path':24} {'orders':>7} {'sim time':>10} {'floor':>10} {'time/floor':>10} {'calls/order':>12} {'429s':>5}"
    )
    for path, orders, scale in (("2026", args.orders, args.scale), ("v0", args.v0_orders, args.v0_scale)):
        r = run(path, orders, scale)
        name = "searchOrders (2026-01-01)" if path == "2026" else "getOrders+getOrderItems"
        print(
            f"{name:24} {r['orders']:>7} {r['elapsed']:>9.0f}s {r['floor']:>9.0f}s {r['ratio']:>10.3f} "
            f"{r['calls_per_order']:>12.4f} {r['throttled']:>5}"
        )
        assert r["orders"] == r["expected"], "orders were lost"


if __name__ == "__main__":
    main()
