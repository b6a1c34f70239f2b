"""What every ERP target promises the posting protocol, asked of each target the same way.

One suite over the fake target, the M3 sandbox and the Acumatica sandbox (``erp`` fixture): a
document posted through the engine is in the ERP once and found by its key afterwards (a fresh store
finds it too, with the same ERP id: the read-back); a storm of throttling, server errors, dropped
connections and expired tokens loses nothing and doubles nothing; a document the ERP refuses fails
alone, carrying the ERP's own words; and a run SIGKILLed at any step of the protocol, then run again,
leaves exactly one ERP record per key. What is particular to one ERP (M3's batch programs, Acumatica's
sessions and releases) stays in tests/m3 and tests/acumatica.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from datetime import timedelta

import pytest

from ml_connector.clock import Clock
from ml_connector.engine.posting import PostingEngine, PostingResult
from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.transport.retry import RetryPolicy

from .erps import Erp

CONNECTION = "erp"


def engine(store: Store, flow: str, clock: Clock, **options) -> PostingEngine:
    return PostingEngine(
        store, CONNECTION, flow=flow, retry=RetryPolicy(attempts=6, base=0.5, cap=8.0, clock=clock), **options
    )


@pytest.fixture
def store(erp: Erp, sqlite_url: str):
    with Store.open(sqlite_url, clock=erp.clock) as opened:
        opened.ensure_connection(CONNECTION, erp=erp.erp)
        yield opened


def post_world(erp: Erp, store: Store, sales: list[str], journals: list[str]) -> list[PostingResult]:
    """One run as the flows make it: the marketplace customer, its sales, the settlement journals."""
    with erp.target() as target:
        orders = engine(store, "orders", erp.clock)
        customer = orders.post(erp.customer(), target)
        results = [customer]
        if customer.ok:
            results += [orders.post(erp.sale(key, customer.erp_id), target) for key in sales]
        settlements = engine(store, "settlements", erp.clock)
        results += [settlements.post(erp.journal(key), target) for key in journals]
    return results


def assert_each_key_once(erp: Erp, keys: list[str]) -> None:
    counts = erp.counts()
    assert {key: counts[key] for key in keys} == dict.fromkeys(keys, 1)
    assert counts[erp.customer_key] == 1
    assert sum(counts.values()) == len(keys) + 1, f"records the run did not ask for: {counts}"


def test_posted_once_found_by_key_and_read_back_with_the_same_id(erp: Erp, store: Store) -> None:
    sales, journals = erp.sale_keys(4), erp.journal_keys(2)
    first = post_world(erp, store, sales, journals)
    assert [r.state for r in first] == ["posted"] * len(first)
    second = post_world(erp, store, sales, journals)
    assert {r.state for r in second} <= {"posted", "found_existing"}
    assert_each_key_once(erp, sales + journals)
    for result in first:
        record = store.find_record(CONNECTION, result.kind, result.key)
        assert record is not None and record.erp_id == result.erp_id

    # A store that knows nothing finds every document in the ERP by its key, with the same id.
    store.ensure_connection("fresh", erp=erp.erp)
    with erp.target() as target:
        fresh = PostingEngine(store, "fresh", flow="orders")
        customer = fresh.post(erp.customer(), target)
        found = [customer] + [fresh.post(erp.sale(key, customer.erp_id), target) for key in sales]
        found += [
            PostingEngine(store, "fresh", flow="settlements").post(erp.journal(k), target) for k in journals
        ]
    assert {r.state for r in found} == {"found_existing"}
    assert [r.erp_id for r in found] == [r.erp_id for r in first]
    assert_each_key_once(erp, sales + journals)


def test_a_storm_of_faults_loses_nothing_and_doubles_nothing(erp: Erp, store: Store) -> None:
    sales, journals = erp.sale_keys(8, series=1), erp.journal_keys(3, series=1)
    erp.storm()
    results = post_world(erp, store, sales, journals)
    injected = erp.calm()
    if any(r.state == "pending" for r in results):  # a key the storm outlasted: the next run settles it
        results = post_world(erp, store, sales, journals)
    assert {r.state for r in results} <= {"posted", "found_existing"}, [
        (r.key, r.error) for r in results if not r.ok
    ]
    assert injected > 0, "the storm injected no fault: this test proved nothing"
    assert_each_key_once(erp, sales + journals)


def test_a_refused_document_fails_alone_with_the_erps_words(erp: Erp, store: Store) -> None:
    bad_key, good_key = erp.journal_keys(2, series=2)
    with erp.target() as target:
        settlements = engine(store, "settlements", erp.clock)
        bad = settlements.post(erp.refused_journal(bad_key), target)
        good = settlements.post(erp.journal(good_key), target)
    assert bad.state == "failed" and erp.refusal_words in (bad.error or "")
    assert good.state == "posted"
    record = store.find_record(CONNECTION, "journal", bad_key)
    assert record is not None and record.state == "failed" and record.claim_owner is None
    counts = erp.counts()
    assert counts[good_key] == 1 and counts[bad_key] == 0


# --- killed at each step of the protocol -------------------------------------------------------------

# (step, kind): a sale and a journal each meet two of the four steps.
KILL_STEPS = [("intent_recorded", "sale"), ("found", "journal"), ("posted", "sale"), ("recorded", "journal")]


def _run(erp: Erp, url: str, customer: str, kind: str, keys: list[str], run: int, kill: tuple | None) -> None:
    """The child: one posting run, SIGKILLed at ``kill`` = (step, key); never returns into pytest."""
    clock = Clock(erp.clock.scale)
    clock.advance(run * 3600)  # a later run starts after the earlier run's claims expired
    store = Store.open(url, clock=clock)
    current = {"key": ""}

    def die_at(step: str) -> None:
        if kill == (step, current["key"]):
            os.kill(os.getpid(), signal.SIGKILL)

    posting = engine(store, "crash", clock, checkpoint=die_at, claim_ttl=timedelta(minutes=15))
    states = []
    with erp.target(clock) as target:
        for key in keys:
            current["key"] = key
            document = erp.sale(key, customer) if kind == "sale" else erp.journal(key)
            states.append(posting.post(document, target).state)
    store.close()
    print(json.dumps(states))


@pytest.mark.parametrize(("step", "kind"), KILL_STEPS, ids=[step for step, _ in KILL_STEPS])
def test_killed_at_a_step_then_run_again_leaves_exactly_one(
    erp: Erp, sqlite_url: str, step: str, kind: str, run_forked
) -> None:
    with Store.open(sqlite_url, clock=erp.clock) as opened:
        opened.ensure_connection(CONNECTION, erp=erp.erp)
        with erp.target() as target:
            customer = engine(opened, "orders", erp.clock).post(erp.customer(), target).erp_id
    keys = erp.sale_keys(3, series=3) if kind == "sale" else erp.journal_keys(3, series=3)

    assert run_forked(_run, erp, sqlite_url, customer, kind, keys, 1, (step, keys[1])) == -signal.SIGKILL
    written = Counter({k: n for k, n in erp.counts().items() if k in keys})
    assert written[keys[2]] == 0, "the killed run went on past its death"
    erp.after_kill()
    assert run_forked(_run, erp, sqlite_url, customer, kind, keys, 2, None) == 0

    assert {key: erp.counts()[key] for key in keys} == dict.fromkeys(keys, 1)
    with Store.open(sqlite_url, clock=erp.clock) as opened:
        document_kind = erp.sale(keys[0], customer).kind if kind == "sale" else "journal"
        for key in keys:
            record = opened.find_record(CONNECTION, document_kind, key)
            assert record is not None and record.state in DONE_STATES and record.erp_id, (key, record)
            assert record.claim_owner is None
