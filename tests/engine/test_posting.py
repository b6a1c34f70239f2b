"""The posting protocol in one process: query first, retries, failures, results and the trail."""

from __future__ import annotations

import pytest

from ml_connector.clock import Clock
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.transport.retry import RetryPolicy

from .fakes import FakeTarget, doc

FAST = RetryPolicy(attempts=4, base=0.001, cap=0.001, clock=Clock(scale=1000.0))


@pytest.fixture
def store(database_url: str):
    s = Store.open(database_url, clock=Clock())
    s.ensure_connection("shop", erp="m3")
    yield s
    s.close()


def engine(store: Store, **kw) -> PostingEngine:
    return PostingEngine(store, "shop", flow="orders", retry=FAST, **kw)


def test_posts_once_then_reports_posted_without_calling_target(store: Store) -> None:
    target = FakeTarget()
    first = engine(store).post(doc("A"), target, source={"order": "A"})
    assert (first.state, first.erp_id, first.ok) == ("posted", "ERP-1", True)
    again = engine(store).post(doc("A"), target)
    assert (again.state, again.erp_id) == ("posted", "ERP-1")
    assert target.counts() == {"A": 1}
    assert target.finds == 1  # the second run never asked the ERP: the store knew
    events = [e.event for e in store.audit_trail(first.record_id)]
    assert events == ["intent", "posted"]


def test_query_first_finds_what_is_already_in_the_erp(store: Store) -> None:
    target = FakeTarget(records=["B"])
    result = engine(store).post(doc("B"), target)
    assert (result.state, result.erp_id) == ("found_existing", "ERP-1")
    assert target.counts() == {"B": 1}
    assert store.record(result.record_id).state == "found_existing"


def test_transient_errors_are_retried(store: Store) -> None:
    target = FakeTarget(transient_posts={"C": 2})
    result = engine(store).post(doc("C"), target)
    assert result.state == "posted"
    assert target.counts() == {"C": 1}


def test_a_timed_out_post_that_wrote_is_found_not_reposted(store: Store) -> None:
    target = FakeTarget(write_then_timeout={"D"})
    result = engine(store).post(doc("D"), target)
    assert result.state == "found_existing"
    assert target.counts() == {"D": 1}


def test_retries_exhausted_leave_the_record_pending_for_a_later_run(store: Store) -> None:
    target = FakeTarget(transient_posts={"E": 10})
    result = engine(store).post(doc("E"), target)
    assert result.state == "pending" and "503" in result.error
    assert store.record(result.record_id).claim_owner is None  # released: the next run may go
    target.transient_posts["E"] = 0
    assert engine(store).post(doc("E"), target).state == "posted"
    assert target.counts() == {"E": 1}


def test_permanent_error_marks_failed_with_the_targets_message(store: Store) -> None:
    target = FakeTarget(permanent={"F": "Item number ABC does not exist"})
    result = engine(store).post(doc("F"), target)
    assert (result.state, result.error) == ("failed", "Item number ABC does not exist")
    rec = store.record(result.record_id)
    assert (rec.state, rec.error) == ("failed", "Item number ABC does not exist")
    trail = store.audit_trail(rec.id)
    assert trail[-1].event == "failed" and trail[-1].message == "Item number ABC does not exist"


def test_a_key_claimed_by_a_live_run_is_left_alone(store: Store) -> None:
    target = FakeTarget()
    holder = engine(store)
    store.claim("shop", "customer", "G", flow="orders", owner=holder.owner, ttl=holder.claim_ttl)
    result = engine(store).post(doc("G"), target)
    assert result.state == "pending"
    assert target.counts() == {}


def test_checkpoints_are_called_in_protocol_order(store: Store) -> None:
    steps: list[str] = []
    engine(store, checkpoint=steps.append).post(doc("H"), FakeTarget())
    assert steps == ["intent_recorded", "found", "fenced", "posted", "recorded"]
    steps.clear()
    engine(store, checkpoint=steps.append).post(doc("I"), FakeTarget(records=["I"]))
    assert steps == ["intent_recorded", "found", "recorded"]


def test_note_and_fail_before_posting(store: Store) -> None:
    eng = engine(store)
    rid = eng.note("sales_order", "O-1", "fetched", payload={"buyer_email": "jane@example.com"})
    eng.note("sales_order", "O-1", "transformed")
    result = eng.fail("sales_order", "O-1", "SKU X-1 has no ERP item", source={"order_id": "O-1"})
    assert (result.state, result.record_id) == ("failed", rid)
    trail = store.audit_trail(rid)
    assert [e.event for e in trail] == ["fetched", "transformed", "failed"]
    assert trail[0].payload == {"buyer_email": "[redacted]"}


def test_an_unexpected_error_releases_the_claim_and_propagates(store: Store) -> None:
    class Broken(FakeTarget):
        def post(self, document):
            raise RuntimeError("adapter bug")

    with pytest.raises(RuntimeError):
        engine(store).post(doc("J"), Broken())
    rec = store.find_record("shop", "customer", "J")
    assert rec.state == "pending" and rec.claim_owner is None and "RuntimeError" in rec.error
    assert store.audit_trail(rec.id)[-1].event == "deferred"
    assert engine(store).post(doc("J"), FakeTarget()).state == "posted"


def test_a_takeover_that_finds_the_key_twice_marks_it_duplicate_suspected(store: Store) -> None:
    from datetime import timedelta

    dead = store.claim("shop", "customer", "T", flow="orders", owner="dead-run", ttl=timedelta(seconds=-1))
    assert dead.claimed and dead.token == 1
    target = FakeTarget(records=["T", "T"])  # the dead run's post and someone else's
    result = engine(store).post(doc("T"), target)
    assert result.state == "duplicate_suspected" and not result.ok
    rec = store.record(result.record_id)
    assert rec.state == "duplicate_suspected" and rec.claim_token == 2
    trail = store.audit_trail(rec.id)
    assert "took over the expired claim of dead-run" in trail[-2].message
    assert trail[-1].event == "duplicate_suspected" and trail[-1].payload == {"erp_ids": ["ERP-1", "ERP-2"]}
    assert target.counts() == {"T": 2}  # nothing more was posted
    again = engine(store).post(doc("T"), target)
    assert again.state == "duplicate_suspected" and target.finds == 0  # left for a person, ERP not asked


def test_a_settle_after_the_claim_was_taken_over_keeps_both_ids_and_the_holder_checks(store: Store) -> None:
    """The stalled run wrote after losing its claim, before the holder settled: its ERP id is kept on
    the record; the holder's settle sees an id it did not write and names both."""
    from datetime import timedelta

    ttl = timedelta(minutes=5)
    first = store.claim("shop", "customer", "S", flow="orders", owner="w1", ttl=timedelta(seconds=-1))
    second = store.claim("shop", "customer", "S", flow="orders", owner="w2", ttl=ttl)
    assert second.claimed and second.token == first.token + 1
    late = store.settle(
        first.record.id, "w1", state="posted", event="posted", erp_id="ERP-1", token=first.token
    )
    assert not late.done and late.record.erp_id == "ERP-1" and late.record.state == "pending"
    holder = store.settle(
        second.record.id, "w2", state="posted", event="posted", erp_id="ERP-2", token=second.token
    )
    assert not holder.done and holder.conflict == "ERP-1"
    assert not store.renew_claim(first.record.id, "w1", ttl, first.token)  # the fence refuses w1


def test_erp_error_bodies_are_scrubbed_before_they_are_stored(store: Store) -> None:
    from ml_connector.engine.redact import register_secrets

    register_secrets(["s3cr3t-service-password-42"])
    words = "refused: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def password=s3cr3t-service-password-42"
    target = FakeTarget(permanent={"R": words})
    result = engine(store).post(doc("R"), target)
    rec = store.record(result.record_id)
    stored = [rec.error or "", result.error or ""] + [e.message or "" for e in store.audit_trail(rec.id)]
    assert all(
        "s3cr3t-service-password-42" not in text and "eyJhbGciOiJIUzI1NiJ9" not in text for text in stored
    )
    assert "refused" in rec.error
