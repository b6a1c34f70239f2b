"""Console pages with 100,000 records in the store, on SQLite and on PostgreSQL.

    .venv/bin/python bench/console_bench.py [--records 100000] [--repeat 5] [--postgres URL | --no-postgres]

Fills a fresh store with two connections and N records spread like a year of a mid-sized seller
(orders, SKUs, stock & price updates, shipments, settlements with their journals; 2 % failed, a few
pending), about two audit events per record, 2,000 runs, the items map and one kept settlement
report; then renders every console page in-process (Starlette's TestClient: routing, session,
queries, templates) and prints the median of --repeat renders per page, against the floor of the
same stack serving a static file, and against the issue's budget of 200 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

BUDGET_MS = 200.0
FLOWS = (  # flow, kind, share of the records
    ("orders", "sales_order", 0.70),
    ("items", "sku_item", 0.05),
    ("stock_price", "listing_update", 0.15),
    ("shipments", "shipment", 0.085),
    ("settlements", "journal", 0.010),
    ("settlements", "settlement", 0.005),
)


def settlement_report(settlement_id: str) -> bytes:
    from ml_connector.model.money import Money
    from ml_connector.model.settlement import Settlement, SettlementLine
    from ml_connector.settlement.writer import write_flat_file_v2

    rng = random.Random(settlement_id)
    lines, total = [], Decimal(0)
    for n in range(400):
        order = f"111-{n:07d}-{rng.randint(0, 9999999):07d}"
        price = Decimal(rng.randint(500, 9000)) / 100
        fee = -(price * Decimal("0.15")).quantize(Decimal("0.01"))
        for amount_type, description, amount in (
            ("ItemPrice", "Principal", price),
            ("ItemFees", "Commission", fee),
        ):
            lines.append(
                SettlementLine(
                    "Order",
                    amount_type,
                    description,
                    Money(amount, "USD"),
                    date(2026, 11, 3 + n % 10),
                    order,
                    sku=f"SKU-{n % 300:04d}",
                    quantity=1,
                )
            )
            total += amount
    header = Settlement(
        settlement_id,
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 18, tzinfo=UTC),
        Money(total, "USD"),
        "Amazon.com",
    )
    out = io.BytesIO()
    write_flat_file_v2(header, lines, out)
    return out.getvalue()


def fill(store, n: int) -> dict[str, int]:
    """N records with their events, runs, the items map and one kept settlement report."""
    from ml_connector.engine.models import AuditEvent, Record, Run

    rng = random.Random(7)
    now = datetime.now(UTC)
    conns = [
        store.ensure_connection(name, erp=erp).id
        for name, erp in (("us-ca-m3", "m3"), ("uk-acumatica", "acumatica"))
    ]
    records, events = [], []
    ids: dict[str, int] = {}
    next_id = 1
    for flow, kind, share in FLOWS:
        for i in range(int(n * share)):
            roll = rng.random()
            state = "failed" if roll < 0.02 else "pending" if roll < 0.025 else "posted"
            key = {
                "sales_order": f"{100 + i % 900}-{i:07d}-{rng.randint(0, 9999999):07d}",
                "sku_item": f"SKU-{i:06d}",
                "listing_update": f"LST-{i:07d}",
                "shipment": f"SHIP-{i:07d}",
                "journal": f"{24000000000 + i // 2}-2026-{1 + i % 12:02d}",
                "settlement": f"{24000000000 + i}",
            }[kind]
            error = None
            if state == "failed":
                error = {
                    "sales_order": f"order {key}: no ERP item for SKU SKU-{i % 5000:06d}; map it (an ERP alias / cross-reference, or the connection's sku_map) and replay the record",
                    "sku_item": f"SKU {key} has no ERP item; closest ERP items: A{i:05d}, A{i + 1:05d}, A{i + 2:05d}. Map it and replay this record",
                    "settlement": "quarantined: 1 key(s) have no account in the mapping: ('ServiceFee', 'other-transaction', 'Subscription Fee') x1 = -39.99 USD, first on line 127",
                }.get(kind, "ERP answered 400: the document was rejected")
            at = now - timedelta(minutes=n - next_id)
            day = at.date() - timedelta(days=rng.randint(0, 3))
            cents = (
                rng.randint(500, 40000) if kind in ("sales_order", "settlement", "listing_update") else None
            )
            records.append(
                {
                    "id": next_id,
                    "connection_id": conns[next_id % 2],
                    "kind": kind,
                    "key": key,
                    "flow": flow,
                    "state": state,
                    "erp_id": None if state != "posted" else f"ERP{next_id:08d}",
                    "error": error,
                    "attempts": 1,
                    "source": {
                        "amazon_order_id": key,
                        "items": [{"sku": f"SKU-{i % 5000:06d}", "quantity": 1}],
                    },
                    "created_at": at,
                    "updated_at": at,
                    "amount_cents": cents,  # what engine.search_facts reads from a source
                    "day_from": day - timedelta(days=14) if kind == "settlement" else day,
                    "day_to": day,
                }
            )
            events.append(
                {"record_id": next_id, "at": at, "event": "intent", "message": "attempt 1", "actor": "bench"}
            )
            events.append(
                {
                    "record_id": next_id,
                    "at": at,
                    "event": state if state != "pending" else "deferred",
                    "message": error,
                    "actor": "bench",
                }
            )
            ids.setdefault(kind, next_id)
            if kind == "sales_order" and cents is not None:
                ids.setdefault("order_amount", cents)
                ids.setdefault("order_day", day.toordinal())
            if kind == "settlement" and state == "posted":
                ids["posted_settlement"] = next_id
            next_id += 1
    with store.session() as s:
        for start in range(0, len(records), 5000):
            s.execute(insert(Record), records[start : start + 5000])
        for start in range(0, len(events), 10000):
            s.execute(insert(AuditEvent), events[start : start + 10000])
        runs = []
        for r in range(2000):
            started = now - timedelta(minutes=15 * (2000 - r))
            runs.append(
                {
                    "connection_id": conns[r % 2],
                    "flow": FLOWS[r % 5][0],
                    "owner": "bench",
                    "state": "finished",
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=40),
                }
            )
        s.execute(insert(Run), runs)
    settlement = store.record(ids["posted_settlement"])
    store.keep_raw_document(
        "us-ca-m3" if settlement.connection_id == conns[0] else "uk-acumatica",
        "settlement_report",
        settlement.key,
        settlement_report(settlement.key),
    )
    skus = {f"SKU-{i:06d}": (None if i % 50 == 0 else f"A{i:05d}") for i in range(int(n * 0.05))}
    store.set_cursor(
        "us-ca-m3",
        "items",
        json.dumps({"items": skus, "asins": {}, "via_asin": {}, "updated": now.isoformat()}),
    )
    return ids


def config_text(store_url: str) -> str:
    from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, CONFIG_TEMPLATE, M3_CONNECTION

    return CONFIG_TEMPLATE.format(
        time_scale=1.0, store_url=store_url, m3=M3_CONNECTION, acumatica=ACUMATICA_CONNECTION
    )


def measure(store_url: str, n: int, repeat: int, home: Path) -> list[tuple[str, float, float]]:
    from starlette.testclient import TestClient

    from ml_connector.console.app import create_app
    from ml_connector.engine.store import Store
    from ml_connector.ops import queries, users

    queries._BUILD_CACHE.clear()  # each store's first views start cold
    queries._HEADER_CACHE.clear()
    store = Store.open(store_url)
    try:
        started = time.perf_counter()
        ids = fill(store, n)
        print(f"  filled {n:,} records in {time.perf_counter() - started:.1f} s")
        users.add_user(store, "bench", "admin", "bench password")
        config = home / "config.toml"
        config.write_text(config_text(store_url), "utf-8")
        # Planner statistics and (PostgreSQL) the visibility map, as autovacuum keeps them on a live store.
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        else:
            with store.session() as s:
                s.execute(text("ANALYZE"))
        client = TestClient(create_app(store, config), base_url="http://127.0.0.1:8700")
        client.post("/signin", data={"name": "bench", "password": "bench password"})
        order = store.record(ids["sales_order"])
        amount = f"{ids['order_amount'] / 100:.2f}"
        day = date.fromordinal(ids["order_day"]).isoformat()
        pages = [
            ("floor: a static file", "/static/console.css"),
            ("overview", "/"),
            ("problems", "/problems"),
            ("problems, class mapping", "/problems?class=mapping"),
            ("problems, search by key", f"/problems?q={order.key[:8]}"),
            ("problems CSV (all)", "/problems.csv"),
            ("settlements", "/settlements"),
            ("settlement detail (rebuilt)", f"/settlements/{ids['posted_settlement']}"),
            ("orders", "/orders"),
            ("orders, page 1,000", "/orders?offset=50000"),
            ("orders, failed", "/orders?state=failed"),
            ("orders, search by key", f"/orders?q={order.key}"),
            ("orders, search by amount", f"/orders?amount={amount}"),
            ("orders, search by day", f"/orders?day={day}"),
            ("problems, by amount and day", f"/problems?amount={amount}&day={day}"),
            ("settlements, by amount", f"/settlements?amount={amount}"),
            ("settlements, by day", f"/settlements?day={day}"),
            ("stock & price, by day", f"/stock-price?day={day}"),
            ("SKUs", "/skus?connection=us-ca-m3"),
            ("stock & price", "/stock-price"),
            ("shipments", "/shipments"),
            ("record detail", f"/records/{order.id}"),
            ("runs", "/runs"),
            ("connections", "/connections"),
            ("activity", "/activity"),
        ]
        results = []
        for name, path in pages:
            t = time.perf_counter()
            assert client.get(path).status_code == 200, path  # the first view (cold caches)
            first = (time.perf_counter() - t) * 1000
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, path
            results.append((name, first, statistics.median(times)))
        return results
    finally:
        store.close()


def report(label: str, results: list[tuple[str, float, float]]) -> None:
    floor = results[0][2]
    print(f"\n{label}")
    print(f"  {'page':32} {'first ms':>9} {'median ms':>10} {'x floor':>8} {'budget':>8}")
    for name, first, ms in results:
        verdict = "ok" if ms < BUDGET_MS and first < BUDGET_MS else "OVER"
        print(f"  {name:32} {first:9.1f} {ms:10.1f} {ms / floor:8.1f} {verdict:>8}")
    worst = max(results[1:], key=lambda r: max(r[1], r[2]))
    print(
        f"  slowest page: {worst[0]} at {max(worst[1], worst[2]):.1f} ms ({max(worst[1], worst[2]) / BUDGET_MS:.2f} of the 200 ms budget)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ML_CONNECTOR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        home = Path(tmp)
        os.environ["ML_CONNECTOR_HOME"] = str(home)
        from ml_connector.engine import keys

        keys.create_key_file()
        print("SQLite")
        report(
            f"SQLite, {args.records:,} records",
            measure(f"sqlite:///{home / 'bench.sqlite3'}", args.records, args.repeat, home),
        )
        if not args.no_postgres:
            import sqlalchemy

            schema = f"console_bench_{os.getpid()}"
            admin = sqlalchemy.create_engine(args.postgres)
            with admin.begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                url = f"{args.postgres}?options=-csearch_path%3D{schema}"
                print("\nPostgreSQL")
                report(f"PostgreSQL, {args.records:,} records", measure(url, args.records, args.repeat, home))
            finally:
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()


if __name__ == "__main__":
    main()
