"""The stall scenario on the engine's own durable, non-idempotent target (one fsync'ed line per post).

Worker 1 stops between ``find`` and ``post`` (or inside the remaining window, after the fence) for
twice its claim; worker 2 takes the key over and posts; worker 1 resumes. Whatever the stop, the
target ends with one record and nothing silent: either worker 1's write was fenced off (its log says
it lost the claim), or both records are named by a ``duplicate_suspected`` record.
"""

from __future__ import annotations

from pathlib import Path

from ml_connector.engine.store import Store

from .fakes import DurableTarget, doc
from .stall import CLAIM_TTL, stall_scenario


def _make(path: Path):
    return lambda clock: (doc("K-1"), DurableTarget(path))


def test_a_worker_stalled_between_find_and_post_loses_its_claim_and_writes_nothing(tmp_path, database_url):
    with Store.open(database_url) as store:
        store.ensure_connection("stall")
    erp = tmp_path / "erp.jsonl"
    first, second, log = stall_scenario(
        tmp_path, database_url, "stall", _make(erp), scale=1.0, stop_at="found"
    )
    assert DurableTarget(erp).counts() == {"K-1": 1}
    assert second["state"] == "posted"
    assert "lost the claim" in log
    assert first["state"] in ("posted", "found_existing")  # it recorded the one record worker 2 wrote
    with Store.open(database_url) as store:
        rec = store.find_record("stall", "customer", "K-1")
        assert rec.state == "posted" and rec.erp_id == "ERP-1"


def test_a_worker_released_inside_the_window_ends_in_duplicate_suspected_naming_both(tmp_path, database_url):
    with Store.open(database_url) as store:
        store.ensure_connection("stall")
    erp = tmp_path / "erp.jsonl"
    first, second, log = stall_scenario(
        tmp_path, database_url, "stall", _make(erp), scale=1.0, stop_at=("fenced", 1)
    )
    assert DurableTarget(erp).counts() == {"K-1": 2}  # the window is real: the fence was passed
    assert first["state"] == "duplicate_suspected"
    with Store.open(database_url) as store:
        rec = store.find_record("stall", "customer", "K-1")
        assert rec.state == "duplicate_suspected"
        events = [e for e in store.audit_trail(rec.id) if e.event == "duplicate_suspected"]
        assert len(events) == 1 and sorted(events[0].payload["erp_ids"]) == ["ERP-1", "ERP-2"]
        assert store.status("stall")[0].duplicate_suspected == 1
        # a person must look: the next run neither posts it again nor hides it
        assert (
            store.claim("stall", "customer", "K-1", flow="stall", owner="x", ttl=CLAIM_TTL).claimed is False
        )
