"""Many sellers on procrastinate workers: does the work spread, and do the costs per seller stay put?

S sellers (each its own SP-API sandbox, seeded apart, with N orders) post into one M3 sandbox tenant,
all served by a separate "farm" process; the store is a fresh schema of the machine's PostgreSQL.
For 1, 2 and 4 `ml-connector worker` processes (2 runs at once each) the bench measures the first
sync of every (seller, flow) pair: wall time, Amazon and M3 requests per seller, 429s, the farm's
and the workers' CPU, pairs that ran twice at once, and Amazon orders posted twice in M3. Cadences are
set far apart so that each pair runs once: the figures per seller are one first sync's.

Goals (issue 11): 2 workers at least 1.7x faster than 1; requests per seller equal for 1 and 4 workers
(within 5 %); no pair run twice for one due time; 429s under 1 % of calls; no duplicate in M3.
Run: python bench/workers_bench.py [--sellers 20] [--orders 300] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import sqlalchemy as sa

ADMIN_URL = os.environ.get(
    "ML_CONNECTOR_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FLOWS = ["items", "orders", "stock_price", "settlements"]

FARM = """
import json, sys
from ml_connector.sandbox.amazon.app import create_app as amazon
from ml_connector.sandbox.m3.app import create_app as m3
from ml_connector.sandbox.server import serve_in_thread
from ml_connector.clock import Clock
sellers, orders, scale = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
clock = Clock(scale)
servers = [serve_in_thread(amazon(clock=clock, seed=1000 + i, order_count=orders, days=30), name=f"a{i}")
           for i in range(sellers)]
erp = serve_in_thread(m3(clock=clock, rate_per_second=1e6, burst=1e6), name="m3")
print(json.dumps({"amazon": [s.url for s in servers], "m3": erp.url}), flush=True)
sys.stdin.read()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _config(sellers: int, store_url: str, scale: float) -> str:
    parts = [f'time_scale = {scale}\n\n[store]\nurl = "{store_url}"\n']
    for i in range(sellers):
        parts.append(
            f"""
[[connections]]
name = "seller-{i:02d}"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
flows = {json.dumps(FLOWS)}
cadence = {{ items = "30d", orders = "30d", stock_price = "30d", settlements = "30d" }}
[connections.m3]
company = "100"
division = "AAA"
facility = "A01"
warehouse = "100"
customer_template = "AMZTEMPL"
order_type = "AMZ"
"""
        )
    return "".join(parts)


def _connect(store, urls: dict, sellers: int) -> None:
    from ml_connector.sandbox.amazon.state import SELLER_ID, SandboxCredentials
    from ml_connector.sandbox.m3.app import ionapi_document

    amazon = SandboxCredentials()
    secrets = {
        "client_id": amazon.client_id,
        "client_secret": amazon.client_secret,
        "refresh_token": amazon.refresh_token,
    }
    ionapi = ionapi_document(urls["m3"])
    for i in range(sellers):
        name = f"seller-{i:02d}"
        settings = {
            "region": "na",
            "marketplaces": ["ATVPDKIKX0DER"],
            "sandbox_url": urls["amazon"][i],
            "seller_id": SELLER_ID,
        }
        store.ensure_connection(name, settings={"amazon": settings})
        store.save_credentials(name, "amazon", secrets)
        store.ensure_connection(
            name, erp="m3", settings={"m3": {"tenant": ionapi["ti"], "ion_url": ionapi["iu"]}}
        )
        store.save_credentials(name, "m3", ionapi)


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat): PostgreSQL's backends,
    the farm and the workers together, to tell whether a run was bound by the machine's cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_once(workers: int, sellers: int, orders: int, scale: float) -> dict:
    from ml_connector.engine.models import Connection, Run
    from ml_connector.engine.store import Store

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    store_url = f"{ADMIN_URL}?options=-csearch_path%3D{schema}"
    farm = subprocess.Popen(
        [sys.executable, "-c", FARM, str(sellers), str(orders), str(scale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = json.loads(farm.stdout.readline())
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ)
            env.update(
                ML_CONNECTOR_HOME=home,
                ML_CONNECTOR_CONFIG=str(Path(home) / "config.toml"),
                ML_CONNECTOR_MASTER_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            )
            os.environ.update(env)
            Path(env["ML_CONNECTOR_CONFIG"]).write_text(_config(sellers, store_url, scale))
            store = Store.open(store_url)
            _connect(store, urls, sellers)
            pairs = {(f"seller-{i:02d}", flow) for i in range(sellers) for flow in FLOWS}
            farm_cpu = _cpu_seconds(farm.pid)
            busy_before, total_before = _machine_ticks()
            started = time.monotonic()
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "ml_connector",
                        "worker",
                        "--concurrency",
                        "2",
                        "--dispatch-every",
                        "1",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]
            spans: dict[tuple[str, str], list] = {}
            while time.monotonic() - started < 3600:
                with store.session() as s:
                    rows = s.execute(
                        sa.select(Connection.name, Run.flow, Run.started_at, Run.finished_at).join(Connection)
                    )
                    spans = defaultdict(list)
                    for name, flow, start, end in rows:
                        spans[(name, flow)].append((start, end))
                if all(any(end for _, end in spans.get(p, [])) for p in pairs):
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            busy_after, total_after = _machine_ticks()
            worker_cpu = sum(_cpu_seconds(p.pid) for p in procs if p.poll() is None)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=300)
            farm_cpu = _cpu_seconds(farm.pid) - farm_cpu
            store.close()
        amazon_calls = amazon_429 = 0
        for url in urls["amazon"]:
            state = httpx.get(f"{url}/_sandbox/state").json()
            amazon_calls += sum(state["calls"].values())
            amazon_429 += sum(state["throttled"].values())
        m3 = httpx.get(f"{urls['m3']}/_sandbox/m3/stats").json()
        m3_orders = httpx.get(f"{urls['m3']}/_sandbox/m3/orders").json()
        keys = Counter(order["head"]["CUOR"] for order in m3_orders)
        overlaps = sum(
            1
            for runs in spans.values()
            for (_, end), (start, _) in zip(sorted(runs), sorted(runs)[1:], strict=False)
            if end and start < end
        )
    finally:
        farm.stdin.close()
        farm.wait(timeout=30)
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
    return {
        "workers": workers,
        "seconds": elapsed,
        "amazon_per_seller": amazon_calls / sellers,
        "rate_429": amazon_429 / max(1, amazon_calls),
        "m3_requests_per_seller": m3["requests"] / sellers,
        "mi_per_seller": sum(m3["transactions"].values()) / sellers,
        "orders_in_m3": len(keys),
        "duplicates": sum(n - 1 for n in keys.values() if n > 1),
        "overlaps": overlaps,
        "farm_cpu": farm_cpu,
        "worker_cpu": worker_cpu,
        "machine_busy": (busy_after - busy_before) / max(1, total_after - total_before),
        "cores": os.cpu_count() or 1,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--scale", type=float, default=600.0)
    args = parser.parse_args(argv)
    rows = [run_once(int(w), args.sellers, args.orders, args.scale) for w in args.workers.split(",")]
    base = rows[0]
    print(
        f"{'workers':>7} {'seconds':>8} {'speed-up':>8} {'Amazon/seller':>13} {'429 %':>6} {'M3 req/seller':>13}"
        f" {'MI/seller':>9} {'orders':>7} {'dupl.':>5} {'overlap':>7} {'farm CPU s':>10} {'worker CPU s':>12}"
        f" {'machine busy':>12}"
    )
    for r in rows:
        print(
            f"{r['workers']:>7} {r['seconds']:>8.1f} {base['seconds'] / r['seconds']:>7.2f}x"
            f" {r['amazon_per_seller']:>13.1f} {100 * r['rate_429']:>6.2f} {r['m3_requests_per_seller']:>13.1f}"
            f" {r['mi_per_seller']:>9.1f} {r['orders_in_m3']:>7} {r['duplicates']:>5} {r['overlaps']:>7}"
            f" {r['farm_cpu']:>10.1f} {r['worker_cpu']:>12.1f}"
            f" {100 * r['machine_busy']:>7.0f}% of {r['cores']}"
        )
    last = rows[-1]
    print(
        f"requests per seller, {last['workers']} workers vs 1: Amazon "
        f"{last['amazon_per_seller'] / base['amazon_per_seller']:.3f}x, M3 "
        f"{last['m3_requests_per_seller'] / base['m3_requests_per_seller']:.3f}x (goal: within 1.05x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
