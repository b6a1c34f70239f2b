"""Two runs on one connection at the same time, on SQLite and PostgreSQL: each key posted once."""

from __future__ import annotations

import functools
import json
import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest

from ml_connector.clock import Clock
from ml_connector.engine.lease import LeaseHeld
from ml_connector.engine.store import DONE_STATES, Store

from .crash_worker import start_forked, wait_forked
from .fakes import DurableTarget

KEYS = [f"AMZ-{i:03d}" for i in range(40)]


def test_two_concurrent_processes_post_each_key_exactly_once(database_url: str, tmp_path: Path) -> None:
    store = Store.open(database_url)
    store.ensure_connection("shop", erp="m3")
    target_file = tmp_path / "erp.jsonl"
    # No run lease: both processes really race over the same keys, and only the per-key claim
    # stands between them and a double post. Both walk the keys in the same order: they meet on every key.
    base = {
        "url": database_url,
        "target": str(target_file),
        "connection": "shop",
        "lease": False,
        "delay": 0.005,
    }
    # A start barrier: each process opens the store (migrations, imports) at its own pace, then both
    # wait for each other, so neither can take every key before the other begins.
    barrier = multiprocessing.get_context("fork").Barrier(2)
    ready = functools.partial(barrier.wait, 60)
    first = start_forked({**base, "keys": KEYS}, ready)
    second = start_forked({**base, "keys": KEYS}, ready)
    (code1, results1), (code2, results2) = wait_forked(first), wait_forked(second)
    assert (code1, code2) == (0, 0)

    counts = DurableTarget(target_file).counts()
    assert {k: n for k, n in counts.items() if n != 1} == {}, "a key was posted twice"
    assert sorted(counts) == KEYS
    for key in KEYS:
        rec = store.find_record("shop", "customer", key)
        assert rec.state in DONE_STATES
        settled = [e.event for e in store.audit_trail(rec.id) if e.event in DONE_STATES]
        assert settled == ["posted"], f"{key}: {settled}"
    assert set(results1) | set(results2) <= {*DONE_STATES, "pending"}
    # Both runs really posted (the race happened), each a share of the keys.
    lines = [json.loads(line) for line in target_file.read_text().splitlines()]
    assert len({line["pid"] for line in lines}) == 2
    store.close()


def test_one_run_per_connection_and_flow(database_url: str) -> None:
    clock = Clock()
    store = Store.open(database_url, clock=clock)
    store.ensure_connection("shop")
    with store.run("shop", "settlements", ttl=timedelta(minutes=5)) as run:
        with pytest.raises(LeaseHeld), store.run("shop", "settlements"):
            pass
        with store.run("shop", "orders"):  # another flow may run alongside
            pass
        assert run.renew()
    with store.run("shop", "settlements"):  # released at the end of the first run
        pass
    store.close()


def test_an_expired_lease_is_taken_over_and_the_dead_run_marked_interrupted(database_url: str) -> None:
    clock = Clock()
    store = Store.open(database_url, clock=clock)
    store.ensure_connection("shop")
    crashed = store.run("shop", "settlements", ttl=timedelta(minutes=5))
    crashed.__enter__()  # a run that never exits: its process died
    with pytest.raises(LeaseHeld), store.run("shop", "settlements"):
        pass
    clock.advance(301)
    with store.run("shop", "settlements"):
        [row] = store.status("shop")
        assert row.last_run_state == "running"
    [row] = store.status("shop")
    assert row.last_run_state == "finished"
    from sqlalchemy import select

    from ml_connector.engine.models import Run

    with store.session() as s:
        assert sorted(s.scalars(select(Run.state))) == ["finished", "interrupted"]
    store.close()
