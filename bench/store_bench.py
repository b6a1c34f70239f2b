"""What `status`, `records` and `audit KEY` cost at 100,000 records and 100,000 runs, against a
nearly empty store, on SQLite and PostgreSQL.

    .venv/bin/python bench/store_bench.py [--records 100000] [--runs 100000] [--repeat 30] [--pg URL]

Each command's store work is timed in-process (the same functions the CLI calls: ``flow_status``,
``list_records`` with the CLI's default limit of 200, ``find_records`` + ``audit_trail``), median
of ``--repeat`` calls on a warm store, and printed as the ratio big / small. Goal: within 1.2x.
The small store holds one page (200 records, 200 runs, the same 10 pairs), so every command prints
the same output in both and the ratio is the store's own growth, not a longer listing.
The big store is filled with bulk inserts (records spread over 2 connections and 5 flows, two
audit events each; runs spread over the same 10 pairs, all within `keep_runs_days`). PostgreSQL
runs in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from ml_connector.engine.journey import format_journey  # noqa: E402
from ml_connector.engine.models import AuditEvent, Record, Run  # noqa: E402
from ml_connector.engine.store import Store  # noqa: E402
from ml_connector.ops.queries import find_records, flow_status, list_records  # noqa: E402

CONNECTIONS = ("acme", "globex")
FLOWS = ("items", "orders", "shipments", "stock_price", "settlements")
STATES = ("posted", "posted", "posted", "found_existing", "failed", "pending")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 5000
COMPACT = True  # --no-compact: keep the bulk load's bloat of record_counts and latest_runs


def fill(store: Store, records: int, runs: int) -> str:
    """``records`` records (two audit events each) and ``runs`` runs; returns a key to audit."""
    ids = {c: store.ensure_connection(c, erp="m3").id for c in CONNECTIONS}
    now = datetime.now(UTC)
    pairs = [(ids[c], f) for c in CONNECTIONS for f in FLOWS]
    with store.engine.begin() as c:
        next_id = 1 + (c.scalar(sa.select(sa.func.max(Record.id))) or 0)
    for start in range(0, records, BATCH):
        rows, events = [], []
        for i in range(start, min(start + BATCH, records)):
            cid, flow = pairs[i % len(pairs)]
            kind = "sales_order" if flow == "orders" else flow
            at = now - timedelta(seconds=records - i)
            rows.append(
                {
                    "id": next_id + i,
                    "connection_id": cid,
                    "kind": kind,
                    "key": f"{kind}-{i:08d}",
                    "flow": flow,
                    "state": STATES[i % len(STATES)],
                    "erp_id": f"ERP-{i}",
                    "attempts": 1,
                    "source": {"items": [{"sku": f"SKU-{i % 500}", "asin": f"B{i % 500:09d}"}]}
                    if kind == "sales_order"
                    else {"n": i},
                    "claim_token": 1,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            for event in ("intent", "posted"):
                events.append(
                    {"record_id": next_id + i, "at": at, "event": event, "message": "m", "actor": "b"}
                )
        with store.engine.begin() as c:
            c.execute(sa.insert(Record), rows)
            c.execute(sa.insert(AuditEvent), events)
    for start in range(0, runs, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, runs)):
            cid, flow = pairs[i % len(pairs)]
            at = now - timedelta(seconds=(runs - i) * 60)
            rows.append(
                {
                    "connection_id": cid,
                    "flow": flow,
                    "owner": uuid.uuid4().hex,
                    "state": "finished",
                    "started_at": at,
                    "finished_at": at + timedelta(seconds=5),
                }
            )
        with store.engine.begin() as c:
            c.execute(sa.insert(Run), rows)
    if store.engine.dialect.name == "postgresql":
        # what autovacuum does after a bulk load: the trigger-kept rows were updated 100,000 times
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
            if COMPACT:
                # The bulk load changed the trigger-kept rows 10,000 times per transaction, whose
                # dead versions no page pruning could reclaim before the commit, leaving hundreds
                # of empty pages that VACUUM does not give back. Posting changes them once or twice
                # per transaction (HOT updates, fillfactor 50): compact them to that steady state.
                c.exec_driver_sql("VACUUM FULL record_counts, latest_runs")
    return f"sales_order-{(records // 2) // len(pairs) * len(pairs) + 1:08d}"


def commands(store: Store, key: str) -> dict[str, Callable[[], object]]:
    def audit() -> object:
        rec = find_records(store, key)
        return format_journey(rec, store.connection_name(rec.connection_id), store.audit_trail(rec.id))

    return {
        "status": lambda: flow_status(store),
        "records": lambda: list_records(store, limit=200),
        "audit": audit,
    }


def interleaved(small: Callable[[], object], big: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds of each, timed alternately so both meet the same load of a shared machine."""
    for call in (small, big, small, big):  # warm: compiled statements, the pool, the OS cache
        call()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, out in ((small, times[0]), (big, times[1])):
            started = time.perf_counter()
            call()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def pg_schema(base: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()

    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL (a schema of its own is made)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-compact", action="store_true", help="PostgreSQL: keep the bulk load's bloat")
    args = parser.parse_args()
    global COMPACT  # noqa: PLW0603 - a module setting fill() reads
    COMPACT = not args.no_compact
    print(
        f"| store | command | small: 200 records, 200 runs (ms) | {args.records:,} records + {args.runs:,} runs (ms) | ratio |"
    )
    print("|---|---|---|---|---|")
    targets = ["sqlite"] + ([] if args.no_pg else ["postgresql"])
    sizes = {"small": (200, 200), "big": (args.records, args.runs)}
    for name in targets:
        with contextlib.ExitStack() as stack:
            calls = {}
            for size, (records, runs) in sizes.items():
                if name == "sqlite":
                    url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/store.sqlite3"
                else:
                    url, drop = pg_schema(args.pg)
                    stack.callback(drop)
                store = stack.enter_context(Store.open(url))
                calls[size] = commands(store, fill(store, records, runs))
            for command in calls["small"]:
                small, big = interleaved(calls["small"][command], calls["big"][command], args.repeat)
                print(
                    f"| {name} | {command} | {small * 1e3:.2f} | {big * 1e3:.2f} | {big / small:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
