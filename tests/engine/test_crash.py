"""Crash tests: SIGKILL a real posting process at every step of the protocol, restart, and count.

The target is deliberately non-idempotent and durable (fsync'ed JSON lines), like an M3 Add: a
second post of one key would show up as a second line. After each scenario every key must be in the
target exactly once and every record must be posted with the ERP's id: nothing doubled, nothing lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector.engine.store import DONE_STATES, Store

from .crash_worker import run_forked
from .fakes import DurableTarget, doc

WORKER = Path(__file__).with_name("crash_worker.py")
KEYS = [f"AMZ-{i:03d}" for i in range(30)]
# Each protocol step, plus a kill inside the target's post after it wrote (query-first's case).
STEPS = ["intent_recorded", "found", "target_written", "posted", "recorded"]
KILL_AT = [KEYS[0], KEYS[13], KEYS[-1]]  # first, middle and last key: one run killed at each
TTL = 60


def run_worker(config: dict) -> subprocess.CompletedProcess:
    """A fresh interpreter (nothing inherited); slower than ``run_forked``."""
    return subprocess.run(
        [sys.executable, str(WORKER), json.dumps(config)], capture_output=True, text=True, timeout=120
    )


def assert_exactly_once(url: str, target_file: Path, keys: list[str]) -> None:
    target = DurableTarget(target_file)
    counts = target.counts()
    assert {k: n for k, n in counts.items() if n != 1} == {}, "a key was posted twice"
    assert sorted(counts) == sorted(keys), "a key never reached the target"
    store = Store.open(url)
    try:
        for key in keys:
            rec = store.find_record("shop", "customer", key)
            assert rec is not None and rec.state in DONE_STATES, f"{key} not settled: {rec and rec.state}"
            assert rec.erp_id == target.find(doc(key)), f"{key}: store and ERP disagree on the id"
            assert rec.claim_owner is None
    finally:
        store.close()


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_restart_posts_every_key_exactly_once(
    step: str, database_url: str, tmp_path: Path
) -> None:
    store = Store.open(database_url)
    store.ensure_connection("shop", erp="m3")
    store.close()
    target_file = tmp_path / "erp.jsonl"
    base = {
        "url": database_url,
        "target": str(target_file),
        "connection": "shop",
        "keys": KEYS,
        "claim_ttl": TTL,
    }

    for run, kill_key in enumerate(KILL_AT):
        code, _ = run_forked(
            {**base, "kill_step": step, "kill_key": kill_key, "clock_advance": run * (TTL + 61)}
        )
        assert code == -signal.SIGKILL, f"run {run} was not killed at {step}"
    code, results = run_forked({**base, "clock_advance": len(KILL_AT) * (TTL + 61)})
    assert code == 0
    assert set(results) <= set(DONE_STATES)
    assert_exactly_once(database_url, target_file, KEYS)


def test_sigkill_in_fresh_interpreters_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """The hardest step (ERP wrote, store did not), with nothing inherited from a fork."""
    store = Store.open(postgres_url)
    store.ensure_connection("shop", erp="m3")
    store.close()
    target_file = tmp_path / "erp.jsonl"
    base = {
        "url": postgres_url,
        "target": str(target_file),
        "connection": "shop",
        "keys": KEYS,
        "claim_ttl": TTL,
    }
    for run, kill_key in enumerate(KILL_AT):
        proc = run_worker(
            {**base, "kill_step": "target_written", "kill_key": kill_key, "clock_advance": run * (TTL + 61)}
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    final = run_worker({**base, "clock_advance": len(KILL_AT) * (TTL + 61)})
    assert final.returncode == 0, final.stderr
    assert_exactly_once(postgres_url, target_file, KEYS)


def test_without_expiry_a_restart_leaves_the_crashed_key_pending(sqlite_url: str, tmp_path: Path) -> None:
    """The claim protects a key while its run might still be alive: no takeover before expiry."""
    store = Store.open(sqlite_url)
    store.ensure_connection("shop", erp="m3")
    store.close()
    target_file = tmp_path / "erp.jsonl"
    base = {
        "url": sqlite_url,
        "target": str(target_file),
        "connection": "shop",
        "keys": KEYS[:5],
        "lease": False,
    }
    code, _ = run_forked({**base, "kill_step": "target_written", "kill_key": KEYS[2]})
    assert code == -signal.SIGKILL
    code, results = run_forked(base)
    assert results == ["posted", "posted", "pending", "posted", "posted"]
    assert DurableTarget(target_file).counts()[KEYS[2]] == 1
