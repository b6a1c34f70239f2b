"""Replay rebuilds a failed record from its stored source and posts it through the protocol."""

from __future__ import annotations

import pytest

from ml_connector.clock import Clock
from ml_connector.engine import replay
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError, PermanentError

from .fakes import FakeTarget, doc


@pytest.fixture
def store(database_url: str):
    s = Store.open(database_url, clock=Clock())
    s.ensure_connection("shop", erp="m3")
    yield s
    s.close()


@pytest.fixture
def mapping():
    """A fake flow: the document can be built only once its SKU is mapped."""
    mapped: dict[str, str] = {}
    target = FakeTarget()

    def rebuild(store, record, source):
        if source["sku"] not in mapped:
            raise PermanentError("unmapped", target_message=f"SKU {source['sku']} has no ERP item")
        return doc(record.key), target

    replay.register_rebuilder("customer", rebuild)
    yield mapped, target
    replay.unregister_rebuilder("customer")


def test_replay_after_the_cause_is_fixed(store: Store, mapping) -> None:
    mapped, target = mapping
    eng = PostingEngine(store, "shop", flow="orders")
    failed = eng.fail("customer", "K1", "SKU S-1 has no ERP item", source={"sku": "S-1"})

    still = replay.replay_record(store, failed.record_id)
    assert still.state == "failed" and "S-1" in still.result.error
    assert target.counts() == {}

    mapped["S-1"] = "ITEM-1"
    done = replay.replay_record(store, failed.record_id)
    assert done.state == "posted" and target.counts() == {"K1": 1}
    events = [e.event for e in store.audit_trail(failed.record_id)]
    assert events == ["failed", "replayed", "failed", "replayed", "intent", "posted"]

    again = replay.replay_record(store, failed.record_id)
    assert again.result is None and "already posted" in again.skipped
    assert target.counts() == {"K1": 1}


def test_replay_failed_for_one_connection(store: Store, mapping) -> None:
    mapped, target = mapping
    store.ensure_connection("other", erp="m3")
    for conn, key in (("shop", "A"), ("shop", "B"), ("other", "C")):
        PostingEngine(store, conn, flow="orders").fail("customer", key, "unmapped", source={"sku": key})
    mapped.update(A="1", B="2", C="3")
    outcomes = replay.replay_failed(store, connection="shop")
    assert sorted((o.key, o.state) for o in outcomes) == [("A", "posted"), ("B", "posted")]
    assert [r.key for r in store.records(state="failed")] == ["C"]


def test_replay_without_a_rebuilder_says_what_is_missing(store: Store) -> None:
    rec = PostingEngine(store, "shop", flow="mystery").fail("widget", "W", "broken")
    with pytest.raises(ConfigurationError, match="no rebuilder.*widget"):
        replay.replay_record(store, rec.record_id)
