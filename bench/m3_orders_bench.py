"""A first sync of N orders into M3: do the bytes and MI transactions per order stay flat as M3 fills?

Posts N Amazon orders (one customer, two lines each, a ship-to) through the posting protocol into the
ION + M3 sandbox, for N = 1,000, 4,000 and 8,000 (each into a fresh tenant), and reports per order:
the MI transactions M3 ran, the bytes of M3's answers, the HTTP requests, and the client's peak
memory (tracemalloc). The goal: at 8,000 within 1.2x of 1,000 for bytes and transactions, and a flat
peak. Run: python bench/m3_orders_bench.py [--sizes 1000,4000,8000]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx

from ml_connector.clock import Clock
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.model.documents import CustomerDocument, SalesDocument, SalesLine
from ml_connector.model.money import Money
from ml_connector.model.orders import Address
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.m3 import world as tenant
from ml_connector.sandbox.m3.app import ionapi_document
from ml_connector.targets.m3 import M3Settings, M3Target, parse_ionapi
from ml_connector.transport.retry import RetryPolicy

SCALE = 1000.0  # token lifetimes and backoffs in sandbox time


def _settings() -> M3Settings:
    return M3Settings(
        company=tenant.COMPANY,
        division=tenant.DIVISION,
        facility=tenant.FACILITY,
        warehouse=tenant.WAREHOUSE,
        customer_template=tenant.TEMPLATE_CUSTOMER,
        order_type=tenant.ORDER_TYPE,
    )


def _order(n: int, customer: str, items: list) -> SalesDocument:
    order_id = f"111-{n:07d}-{(n * 7919) % 10_000_000:07d}"
    lines = tuple(
        SalesLine(
            p.m3_item,
            p.sku,
            1 + i,
            Money(Decimal(str(p.price("ATVPDKIKX0DER"))), "USD"),
            order_item_id=f"{n:07d}{i:07d}",
        )
        for i, p in enumerate(items)
    )
    return SalesDocument(
        order_id,
        "sales_order",
        customer,
        "USD",
        date(2026, 11, 20),
        lines,
        marketplace_id="ATVPDKIKX0DER",
        ship_to=Address("Jane Buyer", "1 Main St", "", "Seattle", "WA", "98101", "US", ""),
    )


SERVE = """
import sys, threading
from ml_connector.sandbox.m3.app import create_app
from ml_connector.sandbox.server import serve_in_thread
from ml_connector.clock import Clock
server = serve_in_thread(create_app(clock=Clock(float(sys.argv[1])), rate_per_second=1e6, burst=1e6), name="m3")
print(server.url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop()
"""


def _stats(url: str) -> tuple[int, int, int]:
    """(MI transactions, answer bytes, requests) as the sandbox counted them."""
    data = httpx.get(f"{url}/_sandbox/m3/stats").json()
    return sum(data["transactions"].values()), data["answer_bytes"], data["requests"]


def measure(count: int) -> dict:
    """One first sync of ``count`` orders into a fresh tenant served by another process, so that the
    peak memory measured here is the client's (and its store's) alone."""
    clock = Clock(SCALE)
    items = [p for p in products() if p.m3_item and len(p.sku) <= 30][:2]
    farm = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(SCALE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    url = farm.stdout.readline().strip()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as home:
        stack.callback(farm.wait)
        stack.callback(farm.stdin.close)
        store = Store.open(f"sqlite:///{Path(home) / 'bench.sqlite3'}")
        store.ensure_connection("bench", erp="m3")
        target = M3Target(
            parse_ionapi(ionapi_document(url)),
            _settings(),
            clock=clock,
            retry=RetryPolicy(attempts=4, base=0.5, cap=4.0, clock=clock),
        )
        engine = PostingEngine(store, "bench", flow="orders")
        customer = engine.post(CustomerDocument("AMAZON-US", "Amazon Amazon.com", "USD", "US"), target)
        tx_before, bytes_before, requests_before = _stats(url)
        tracemalloc.start()
        started = time.perf_counter()
        for n in range(count):
            result = engine.post(_order(n, customer.erp_id or "", items), target)
            if not result.ok:
                raise SystemExit(f"order {n} did not post: {result.error}")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tx_after, bytes_after, requests_after = _stats(url)
        target.close()
        store.close()
    return {
        "orders": count,
        "mi_per_order": (tx_after - tx_before) / count,
        "bytes_per_order": (bytes_after - bytes_before) / count,
        "requests_per_order": (requests_after - requests_before) / count,
        "ms_per_order": elapsed * 1000 / count,
        "peak_mb": peak / 1e6,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,8000")
    sizes = [int(s) for s in parser.parse_args(argv).sizes.split(",")]
    rows = [measure(n) for n in sizes]
    print(
        f"{'orders':>7} {'MI/order':>9} {'bytes/order':>12} {'req/order':>10} {'ms/order':>9} {'peak MB':>8}"
    )
    for r in rows:
        print(
            f"{r['orders']:>7} {r['mi_per_order']:>9.2f} {r['bytes_per_order']:>12.0f} "
            f"{r['requests_per_order']:>10.2f} {r['ms_per_order']:>9.1f} {r['peak_mb']:>8.1f}"
        )
    first, last = rows[0], rows[-1]
    print(
        f"ratio {last['orders']} vs {first['orders']}: MI {last['mi_per_order'] / first['mi_per_order']:.2f}x, "
        f"bytes {last['bytes_per_order'] / first['bytes_per_order']:.2f}x, "
        f"peak memory {last['peak_mb'] / first['peak_mb']:.2f}x (goal: each within 1.20x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
