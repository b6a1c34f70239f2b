"""The stall scenario against the Acumatica sandbox: a sales invoice (see tests/engine/stall.py).

Worker 1 stops (SIGSTOP) between ``find`` and ``post`` for twice its claim; worker 2 takes the key
over and posts; worker 1 resumes: Acumatica holds exactly one invoice and worker 1's log says it
lost the claim. Released inside the remaining window (after the fence of its PUT), worker 1's PUT
makes a second invoice; its release request is fenced off and the record ends
``duplicate_suspected`` naming both invoices: never a silent second one.
"""

from __future__ import annotations

from collections import Counter

import pytest

from engine.stall import stall_scenario
from ml_connector.engine.store import Store
from ml_connector.targets.acumatica import AcumaticaTarget
from ml_connector.transport.retry import RetryPolicy

from .conftest import CREDENTIALS, SCALE, customer_doc, invoice_doc


def _maker(acumatica, document):
    def make(clock):
        target = AcumaticaTarget(
            acumatica.settings(), CREDENTIALS, clock=clock, retry=RetryPolicy(attempts=5, clock=clock)
        )
        return document, target

    return make


def _invoices(acumatica) -> Counter:
    return Counter(r["CustomerOrder"] for r in acumatica.sandbox.records["SalesInvoice"].values())


@pytest.fixture
def url(acumatica, sqlite_url):
    with Store.open(sqlite_url, clock=acumatica.clock) as store:
        store.ensure_connection("acu", erp="acumatica")
    with acumatica.target() as target:
        target.post(customer_doc())
    return sqlite_url


def test_sales_invoice_stalled_between_find_and_post(acumatica, url, tmp_path):
    document = invoice_doc("113-7777777-0000001")
    first, second, log = stall_scenario(
        tmp_path, url, "acu", _maker(acumatica, document), scale=SCALE, stop_at="found"
    )
    assert _invoices(acumatica) == {document.key: 1}
    assert second["state"] == "posted" and "lost the claim" in log
    with Store.open(url) as store:
        rec = store.find_record("acu", "sales_invoice", document.key)
        assert rec.state == "posted" and rec.erp_id == second["erp_id"]


def test_sales_invoice_released_inside_the_window_is_a_duplicate_suspected_naming_both(
    acumatica, url, tmp_path
):
    document = invoice_doc("113-7777777-0000002")
    # fences of an invoice post: the engine's, then the PUT (the sign-in happened during find)
    first, second, log = stall_scenario(
        tmp_path, url, "acu", _maker(acumatica, document), scale=SCALE, stop_at=("fenced", 2)
    )
    assert _invoices(acumatica) == {document.key: 2}
    assert first["state"] == "duplicate_suspected", log
    numbers = {r["ReferenceNbr"] for r in acumatica.sandbox.records["SalesInvoice"].values()}
    with Store.open(url) as store:
        rec = store.find_record("acu", "sales_invoice", document.key)
        assert rec.state == "duplicate_suspected"
        (event,) = [e for e in store.audit_trail(rec.id) if e.event == "duplicate_suspected"]
        assert set(event.payload["erp_ids"]) == numbers
