"""The stall scenario against the M3 sandbox: a sales order and a journal (see tests/engine/stall.py).

Worker 1 stops (SIGSTOP) between ``find`` and ``post`` for twice its claim; worker 2 takes the key
over and posts; worker 1 resumes: M3 holds exactly one record for the key and worker 1's log says it
lost the claim. Inside the remaining window (stopped after the fence of its last write):
- the journal ends ``duplicate_suspected`` naming both vouchers (the window is real for GLS840MI);
- the order ends with one order and no duplicate: worker 2's post deletes worker 1's unconfirmed
  batch order before entering its own, so worker 1's confirmation is refused by M3.
"""

from __future__ import annotations

from collections import Counter

import pytest

from engine.stall import stall_scenario
from ml_connector.engine.store import Store
from ml_connector.targets.m3 import M3Target, parse_ionapi
from ml_connector.transport.retry import RetryPolicy

from .conftest import SCALE, customer_doc, journal_doc, order_doc, settings


def _maker(m3, document):
    def make(clock):
        target = M3Target(
            parse_ionapi(m3.ionapi), settings(), clock=clock, retry=RetryPolicy(attempts=5, clock=clock)
        )
        return document, target

    return make


def _orders(m3) -> Counter:
    return Counter(o["head"]["CUOR"] for o in m3.sandbox.orders())


def _vouchers(m3) -> Counter:
    return Counter(v["lines"][0]["VTXT"].split()[0] for v in m3.sandbox.vouchers())


@pytest.fixture
def url(m3, sqlite_url):
    with Store.open(sqlite_url, clock=m3.clock) as store:
        store.ensure_connection("m3", erp="m3")
    return sqlite_url


def _customer(m3) -> str:
    with m3.target() as target:
        return target.post(customer_doc())


def test_sales_order_stalled_between_find_and_post(m3, url, tmp_path):
    document = order_doc("114-7777777-0000001", _customer(m3))
    first, second, log = stall_scenario(
        tmp_path, url, "m3", _maker(m3, document), scale=SCALE, stop_at="found"
    )
    assert _orders(m3) == {document.key: 1}
    assert second["state"] == "posted" and "lost the claim" in log
    assert first["fences"] == 0  # fenced off before its first request left
    with Store.open(url) as store:
        assert store.find_record("m3", "sales_order", document.key).state == "posted"


def test_journal_stalled_between_find_and_post(m3, url, tmp_path):
    document = journal_doc("24071639991")
    first, second, log = stall_scenario(
        tmp_path, url, "m3", _maker(m3, document), scale=SCALE, stop_at="found"
    )
    assert _vouchers(m3) == {document.key: 1}
    assert second["state"] == "posted" and "lost the claim" in log
    with Store.open(url) as store:
        assert store.find_record("m3", "journal", document.key).state == "posted"


def test_journal_released_inside_the_window_is_a_duplicate_suspected_naming_both_vouchers(m3, url, tmp_path):
    document = journal_doc("24071639992")
    # fences of a journal post: the engine's, AddBatchHead, AddBatchLine (bulk), CtrlBatch, UpdBatch
    first, second, log = stall_scenario(
        tmp_path, url, "m3", _maker(m3, document), scale=SCALE, stop_at=("fenced", 5)
    )
    assert _vouchers(m3) == {document.key: 2}  # UpdBatch left inside the window: two vouchers
    assert first["state"] == "duplicate_suspected", log
    with Store.open(url) as store:
        rec = store.find_record("m3", "journal", document.key)
        assert rec.state == "duplicate_suspected"
        (event,) = [e for e in store.audit_trail(rec.id) if e.event == "duplicate_suspected"]
        ids = event.payload["erp_ids"]
        assert len(set(ids)) == 2 and all(i.count(":") == 3 for i in ids)  # DIVI:YEA4:VSER:VONO each
        assert rec.erp_id == ", ".join(ids)


def test_sales_order_released_inside_the_window_still_ends_in_one_order(m3, url, tmp_path):
    document = order_doc("114-7777777-0000002", _customer(m3))
    # fences of an order post: the engine's, AddBatchHead, the bulk lines, Confirm
    first, second, log = stall_scenario(
        tmp_path, url, "m3", _maker(m3, document), scale=SCALE, stop_at=("fenced", 4)
    )
    assert _orders(m3) == {document.key: 1}
    assert second["state"] == "posted"
    with Store.open(url) as store:
        rec = store.find_record("m3", "sales_order", document.key)
        assert rec.state == "posted" and rec.erp_id == second["erp_id"]
