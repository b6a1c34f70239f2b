"""Killed in the middle of a posting and run again: exactly one Acumatica document per key.

Each run is a forked process posting through the engine (SQLite store) to the sandbox over
loopback; it SIGKILLs itself at one step of the protocol (or, for a journal, between saving the
batch and releasing it). The rerun must find what the dead run wrote and finish it. A killed process
cannot sign out: its seat is reclaimed when its token expires, which the test lets happen by moving
sandbox time past the token's lifetime.
"""

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

from .conftest import CREDENTIALS, SCALE, customer_doc, invoice_doc, journal_doc

# The protocol steps are killed for every target in tests/contract; here the Acumatica-only ones:
# after the batch is saved (not yet released), and after Acumatica accepted the release (202) but
# before anyone polled it: the server finishes that release on its own, so the rerun finds it posted.
KILL_STEPS = ["journal_saved", "release_accepted"]


def _run(acumatica, url: str, kind: str, keys: list[str], run: int, kill: tuple[str, str] | None) -> None:
    """The child: one posting run; never returns into pytest."""
    from ml_connector.targets.acumatica import AcumaticaTarget

    clock = Clock(SCALE)
    clock.advance(run * 3600)  # later runs start after the earlier runs' claims expired
    store = Store.open(url, clock=clock)
    current = {"key": None}

    def die_at(step: str) -> None:
        if kill and kill == (step, current["key"]):
            os.kill(os.getpid(), signal.SIGKILL)

    engine = PostingEngine(
        store,
        "acu",
        flow="crash",
        retry=RetryPolicy(attempts=3, base=0.1, cap=0.5, clock=clock),
        checkpoint=die_at,
        claim_ttl=timedelta(minutes=15),
    )
    target = AcumaticaTarget(
        acumatica.settings(), CREDENTIALS, clock=clock, retry=RetryPolicy(attempts=5, clock=clock)
    )
    put = target.client.put

    def put_then_maybe_die(entity, fields, **options):
        record = put(entity, fields, **options)
        if entity == "JournalTransaction":
            die_at("journal_saved")  # saved, not released yet
        return record

    target.client.put = put_then_maybe_die
    request = target.client.request

    def request_then_maybe_die(method, path, *args, **options):
        response = request(method, path, *args, **options)
        if (
            method == "POST"
            and str(path).endswith("ReleaseJournalTransaction")
            and response.status_code == 202
        ):
            die_at("release_accepted")  # accepted, never polled
        return response

    target.client.request = request_then_maybe_die
    states = []
    with target:
        for key in keys:
            current["key"] = key
            document = invoice_doc(key) if kind == "invoice" else journal_doc(key)
            states.append(engine.post(document, target).state)
    store.close()
    print(json.dumps(states))


@pytest.mark.parametrize("step", KILL_STEPS)
def test_killed_mid_posting_then_rerun_leaves_exactly_one_document(acumatica, sqlite_url, step, run_forked):
    with Store.open(sqlite_url, clock=acumatica.clock) as store:
        store.ensure_connection("acu", erp="acumatica")
    with acumatica.target() as target:
        target.post(customer_doc())
    kind = "journal" if step in ("journal_saved", "release_accepted") else "invoice"
    keys = (
        [f"40000000{i:03d}" for i in range(3)]
        if kind == "journal"
        else [f"113-5555555-{i:07d}" for i in range(3)]
    )

    assert run_forked(_run, acumatica, sqlite_url, kind, keys, 1, (step, keys[1])) == -signal.SIGKILL
    entity = "SalesInvoice" if kind == "invoice" else "JournalTransaction"
    written_before_kill = 1 if step in ("intent_recorded", "found") else 2
    assert len(acumatica.sandbox.records[entity]) == written_before_kill
    releases_before_rerun = acumatica.sandbox.requests["POST JournalTransaction"]
    acumatica.clock.advance(3601)  # the dead run's token expires; the server frees its seat
    assert acumatica.sandbox.expire_idle() == 1
    assert run_forked(_run, acumatica, sqlite_url, kind, keys, 2, None) == 0

    records = acumatica.sandbox.records
    if kind == "invoice":
        counts = Counter(r["CustomerOrder"] for r in records["SalesInvoice"].values())
    else:
        counts = Counter(
            r["Description"].removeprefix("AMZ-STL ") for r in records["JournalTransaction"].values()
        )
        assert {r["Status"] for r in records["JournalTransaction"].values()} == {"Posted"}
        # the rerun releases the batch it saves, plus the dead run's one only if that was never
        # released (journal_saved); a release Acumatica had accepted is never sent twice
        again = acumatica.sandbox.requests["POST JournalTransaction"] - releases_before_rerun
        assert again == (1 if step == "release_accepted" else 2)
    assert counts == dict.fromkeys(keys, 1)
    with Store.open(sqlite_url, clock=acumatica.clock) as store:
        rows = [store.find_record("acu", kind if kind == "journal" else "sales_invoice", key) for key in keys]
        assert all(
            row is not None and row.state in ("posted", "found_existing") and row.erp_id for row in rows
        )
