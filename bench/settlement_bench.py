"""Benchmark: `ml-connector settlement show --json` on a large V2 file, against a csv-module floor.

    .venv/bin/python bench/settlement_bench.py [--rows 1000000] [--locale en_US] [--keep DIR]

Generates a realistic settlement (orders with principal, shipping, tax, facilitator tax, fees and
promotions; refunds; account-level fees; reserve) with the V2 writer, then in the same run times
1. the floor: reading the same file with the csv module and doing nothing else (in a subprocess),
2. `ml-connector settlement show --json FILE` end to end (a subprocess: startup included),
and prints the ratio and the peak memory (ru_maxrss) of each child. Goal: ratio <= 2, peak < 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ml_connector.model.money import Money
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.writer import write_flat_file_v2

FLOOR = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.reader(f, delimiter="\\t"):
        pass
"""

ORDER_COMPONENTS = (
    ("ItemPrice", "Principal", (1500, 9000)),
    ("ItemPrice", "Shipping", (0, 800)),
    ("ItemPrice", "Tax", (100, 900)),
    ("ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", (-900, -100)),
    ("Promotion", "Shipping", (-800, 0)),
    ("ItemFees", "Commission", (-1300, -200)),
    ("ItemFees", "FBAPerUnitFulfillmentFee", (-900, -300)),
    ("ItemFees", "DigitalServicesFee", (-30, -1)),
)
MARKETPLACES = ("Amazon.com", "Amazon.ca")


def generate_lines(rows: int, start: date, currency: str, seed: int = 7) -> Iterator[SettlementLine]:
    """``rows`` lines: mostly order components, some refunds, a few account-level lines."""
    rng = random.Random(seed)
    line = 0
    order = 0
    while line < rows:
        order += 1
        kind = rng.random()
        posted = start + timedelta(days=rng.randrange(14))
        market = MARKETPLACES[order % len(MARKETPLACES)]
        order_id = f"{100 + order % 900:03d}-{order:07d}-{rng.randrange(10**7):07d}"
        sku = f"SKU-{rng.randrange(500):04d}"
        if kind < 0.002:
            components = [
                ("other-transaction", "other-transaction", "Storage Fee", -rng.randrange(100, 90000))
            ]
        elif kind < 0.004:
            components = [
                (
                    "other-transaction",
                    "other-transaction",
                    "Current Reserve Amount",
                    -rng.randrange(1000, 9000),
                )
            ]
        elif kind < 0.05:
            components = [
                ("Refund", "ItemPrice", "Principal", -rng.randrange(1500, 9000)),
                ("Refund", "ItemFees", "Commission", rng.randrange(200, 1300)),
                ("Refund", "ItemFees", "RefundCommission", -rng.randrange(40, 260)),
            ]
        else:
            components = [("Order", at, ad, rng.randrange(*bounds)) for at, ad, bounds in ORDER_COMPONENTS]
        for tt, at, ad, cents in components:
            if line >= rows:
                break
            line += 1
            yield SettlementLine(
                transaction_type=tt,
                amount_type=at,
                amount_description=ad,
                amount=Money(Decimal(cents).scaleb(-2), currency),
                posted_date=posted,
                order_id=order_id if tt != "other-transaction" else None,
                sku=sku if tt != "other-transaction" else None,
                quantity=1 if tt == "Order" and at == "ItemPrice" and ad == "Principal" else None,
                marketplace_name=market if tt != "other-transaction" else None,
                fulfillment_id="AFN" if tt != "other-transaction" else None,
                shipment_id=f"S{order}" if tt == "Order" else None,
                merchant_order_id=None,
                order_item_code=str(10**13 + order) if tt != "other-transaction" else None,
                adjustment_id=f"amzn1:crow:{order}" if tt == "Refund" else None,
            )


def write_file(path: Path, rows: int, locale: str) -> Settlement:
    start = datetime(2026, 10, 25, 22, 7, 18, tzinfo=UTC)
    currency = "USD"
    total = sum((line.amount.amount for line in generate_lines(rows, start.date(), currency)), Decimal(0))
    settlement = Settlement(
        "90000000001", start, start + timedelta(days=14), start + timedelta(days=16), Money(total, currency)
    )
    with path.open("wb") as out:
        write_flat_file_v2(settlement, generate_lines(rows, start.date(), currency), out, locale=locale)
    return settlement


def measure(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Run argv under a fresh Python wrapper so that ru_maxrss belongs to that child alone."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "e = time.perf_counter() - t\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.buffer.write(p.stderr)\n"
        "sys.stdout.buffer.write(p.stdout)\n"
        "sys.stderr.write('\\n@@' + json.dumps([e, r, p.returncode]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, check=False)
    err, _, tail = proc.stderr.rpartition(b"\n@@")
    elapsed, rss_kb, code = json.loads(tail)
    return elapsed, rss_kb / 1024, subprocess.CompletedProcess(argv, code, proc.stdout, err)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--locale", default="en_US")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs for each side")
    parser.add_argument("--keep", type=Path, help="write the file here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / f"settlement_v2_{args.rows}_{args.locale}.txt"
        t0 = time.perf_counter()
        settlement = write_file(path, args.rows, args.locale)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB, {args.locale}) "
              f"in {time.perf_counter() - t0:.1f}s; total {settlement.total}")  # fmt: skip

        cli = os.path.join(os.path.dirname(sys.executable), "ml-connector")
        ours_argv = [cli, "settlement", "show", "--json", str(path)]
        floor_argv = [sys.executable, "-c", FLOOR, str(path)]
        startup_argv = [cli, "version"]
        floors, ours, startups = [], [], []
        for _ in range(args.repeat):
            floors.append(measure(floor_argv))
            ours.append(measure(ours_argv))
            startups.append(measure(startup_argv))
        floor_time, floor_rss, _ = min(floors, key=lambda m: m[0])
        our_time, our_rss, proc = min(ours, key=lambda m: m[0])
        start_time, start_rss, _ = min(startups, key=lambda m: m[0])
        if proc.returncode != 0:
            print(proc.stderr.decode(), file=sys.stderr)
            return 1
        result = json.loads(proc.stdout)
        assert result["lines_total"] == result["total"], "the journal does not tie to the total"
        assert all(j["balanced"] for j in result["journals"])
        ratio = our_time / floor_time
        print(f"floor (csv.reader, nothing else): {floor_time:6.2f}s  peak {floor_rss:6.1f} MB")
        print(f"settlement show --json          : {our_time:6.2f}s  peak {our_rss:6.1f} MB")
        print(f"ratio {ratio:.2f}x (goal <= 2.0x)   peak {our_rss:.1f} MB (goal < 100 MB)")
        # The CLI root imports every command module; what that costs is not the settlement path's.
        print(
            f"of which CLI start-up (`ml-connector version`): {start_time:.2f}s, peak {start_rss:.1f} MB; "
            f"without it: ratio {(our_time - start_time) / floor_time:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
