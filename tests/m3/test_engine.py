"""Killed inside M3's batch programs and run again: exactly one voucher and one order per key.

What every target promises (posted once, found by key, faults, refusals, a kill at each protocol
step) is asked of M3 by tests/contract; here are the kills only M3 has: between the MI transactions
of a GLS840MI journal batch and of an OIS100MI batch order."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from datetime import timedelta

import pytest

from ml_connector.clock import Clock
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.transport.retry import RetryPolicy

from .conftest import SCALE, customer_doc, journal_doc, order_doc

ORDERS = [f"114-{i:07d}-0000001" for i in range(8)]
SETTLEMENTS = ["24071630011", "24071630012"]


def engine(store: Store, flow: str, clock: Clock, checkpoint=None) -> PostingEngine:
    return PostingEngine(
        store,
        "m3",
        flow=flow,
        retry=RetryPolicy(attempts=6, base=0.5, cap=8.0, clock=clock),
        checkpoint=checkpoint,
    )


@pytest.fixture
def store(sqlite_url, m3):
    with Store.open(sqlite_url, clock=m3.clock) as opened:
        opened.ensure_connection("m3", erp="m3")
        yield opened


# --- killed mid-way ------------------------------------------------------------------------------

KILL_POINTS = [
    ("mi", "GLS840MI.AddBatchHead"),  # batch opened, no lines
    ("mi", "GLS840MI.AddBatchLine"),  # lines in the interface file, not controlled
    ("mi", "GLS840MI.CtrlBatch"),  # controlled, not updated
    ("mi", "GLS840MI.UpdBatch"),  # voucher written, its id never recorded
    ("mi", "OIS100MI.AddBatchHead"),  # batch order head only
    ("mi", "OIS100MI.AddBatchLine"),  # head and lines, not confirmed
    ("mi", "OIS100MI.Confirm"),  # confirmed, the order number never recorded
]


def _child(
    m3, url: str, customer: str, keys: list[tuple[str, str]], run: int, kill: tuple[str, str, str] | None
) -> None:
    from ml_connector.targets.m3 import M3Target, parse_ionapi

    from .conftest import settings

    clock = Clock(SCALE)
    clock.advance(run * 3600)  # later runs start after the earlier runs' claims expired
    store = Store.open(url, clock=clock)
    current = {"key": None}

    def die_at(where: str, step: str) -> None:
        if kill and kill == (where, step, current["key"]):
            os.kill(os.getpid(), signal.SIGKILL)

    target = M3Target(
        parse_ionapi(m3.ionapi), settings(), clock=clock, retry=RetryPolicy(attempts=5, clock=clock)
    )
    call, bulk = target.mi.call, target.mi.bulk

    def call_then_maybe_die(program, transaction, *args, **kwargs):
        result = call(program, transaction, *args, **kwargs)
        die_at("mi", f"{program}.{transaction}")
        return result

    def bulk_then_maybe_die(program, calls, **kwargs):
        calls = list(calls)
        result = bulk(program, calls, **kwargs)
        for name in dict.fromkeys(name for name, _ in calls):
            die_at("mi", f"{program}.{name}")
        return result

    target.mi.call, target.mi.bulk = call_then_maybe_die, bulk_then_maybe_die
    posting = PostingEngine(
        store,
        "m3",
        flow="crash",
        retry=RetryPolicy(attempts=3, base=0.1, cap=0.5, clock=clock),
        checkpoint=lambda step: die_at("engine", step),
        claim_ttl=timedelta(minutes=15),
    )
    states = []
    with target:
        for kind, key in keys:
            current["key"] = key
            document = journal_doc(key) if kind == "journal" else order_doc(key, customer)
            states.append(posting.post(document, target).state)
    store.close()
    print(json.dumps(states))


@pytest.mark.parametrize(("where", "step"), KILL_POINTS, ids=[f"{w}-{s}" for w, s in KILL_POINTS])
def test_killed_mid_batch_or_order_then_rerun_leaves_exactly_one(m3, sqlite_url, where, step, run_forked):
    with Store.open(sqlite_url, clock=m3.clock) as opened:
        opened.ensure_connection("m3", erp="m3")
    with m3.target() as target:
        customer = target.post(customer_doc())
    kind = "order" if step.startswith("OIS100MI") else "journal"
    keys = (
        [f"2407163{i:04d}" for i in range(3)]
        if kind == "journal"
        else [f"114-5555555-{i:07d}" for i in range(3)]
    )
    work = [(kind, key) for key in keys]

    assert run_forked(_child, m3, sqlite_url, customer, work, 1, (where, step, keys[1])) == -signal.SIGKILL
    assert run_forked(_child, m3, sqlite_url, customer, work, 2, None) == 0

    if kind == "journal":
        counts = Counter(v["lines"][0]["VTXT"].split()[0] for v in m3.sandbox.vouchers())
        assert all(
            b.status in ("updated", "open", "controlled") for b in m3.sandbox.world.gl_batches.values()
        )
    else:
        counts = Counter(o["head"]["CUOR"] for o in m3.sandbox.orders())
        leftovers = [b for b in m3.sandbox.world.batch_orders.values() if not b.final]
        assert leftovers == []  # interrupted batch entries were cleaned up, not confirmed twice
    assert counts == dict.fromkeys(keys, 1)
    with Store.open(sqlite_url, clock=m3.clock) as opened:
        document_kind = "journal" if kind == "journal" else "sales_order"
        rows = [opened.find_record("m3", document_kind, key) for key in keys]
        assert all(
            row is not None and row.state in ("posted", "found_existing") and row.erp_id for row in rows
        )
