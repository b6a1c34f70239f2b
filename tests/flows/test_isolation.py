"""One flow run of one connection is the unit of work: whatever goes wrong in it stays in it.

A settlement report the reader cannot handle (any exception, not only a quarantine) fails its own
record with the reason and the flow goes on to the next report and moves its cursor; an exception
injected in one flow of one connection fails that run alone (recorded ``failed`` with a one-line
reason) while every other flow of every connection runs, under `sync all` and under `run`.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import select

from ml_connector.engine.models import Run
from ml_connector.flows import registry, runner, settlements
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION

POISON = b"poison: a report the reader cannot handle"


@pytest.fixture
def poisoned(deployment, monkeypatch):
    """The oldest M3 settlement report made unreadable, and the shipments flow of the M3 connection
    broken by a bug (a KeyError from nowhere)."""
    amazon = deployment.state("amazon")
    reports = sorted(
        (r for r in amazon.reports.values() if r.settlement and r.marketplace_ids[0] == "ATVPDKIKX0DER"),
        key=lambda r: r.created,
    )
    bad = reports[0]
    amazon.documents[bad.document_id] = (gzip.compress(POISON), "text/plain")
    real_open = settlements.open_report

    def open_report(data, *args, **kwargs):
        if isinstance(data, bytes) and data.startswith(b"poison"):
            raise ArithmeticError("[<class 'decimal.InvalidOperation'>]")  # as the reader's own crashes did
        return real_open(data, *args, **kwargs)

    monkeypatch.setattr(settlements, "open_report", open_report)
    real_flow = registry.flow

    def flow_named(name):
        run = real_flow(name)

        def broken(ctx):
            if name == "shipments" and ctx.name == M3_CONNECTION:
                raise KeyError("carrier")
            return run(ctx)

        return broken

    monkeypatch.setattr(registry, "flow", flow_named)
    return bad


def _check(store, summaries, bad) -> None:
    by_unit = {(s.connection, s.flow): s for s in summaries}
    broken = by_unit[(M3_CONNECTION, "shipments")]
    assert broken.counts["run_failed"] == 1 and "KeyError: 'carrier'" in broken.notes[0], broken.notes
    for (connection, flow), summary in by_unit.items():
        if (connection, flow) != (M3_CONNECTION, "shipments"):
            assert not summary.counts.get("run_failed"), (connection, flow, summary.notes)
    assert {c for c, _ in by_unit} == {M3_CONNECTION, ACUMATICA_CONNECTION}
    assert by_unit[(M3_CONNECTION, "settlements")].counts["posted"] > 0  # the other reports posted
    assert by_unit[(ACUMATICA_CONNECTION, "settlements")].counts["posted"] > 0
    record = store.find_record(M3_CONNECTION, "settlement", f"report-{bad.report_id}")
    assert record.state == "failed" and "cannot be read: ArithmeticError" in record.error
    cursor = datetime.fromisoformat(store.get_cursor(M3_CONNECTION, "settlements"))
    assert cursor > bad.created  # the cursor moved on past the bad report
    with store.session() as s:
        failed = s.scalars(select(Run).where(Run.flow == "shipments", Run.state == "failed")).all()
    assert len(failed) == 1 and failed[0].message == "KeyError: 'carrier'"


def test_sync_all_runs_every_other_unit(deployment, store, poisoned):
    summaries = runner.sync(store, deployment.config, clock=deployment.clock)
    _check(store, summaries, poisoned)


def test_run_runs_every_other_unit(deployment, store, poisoned):
    stop = threading.Event()
    summaries = []
    units = sum(len(runner.flows_of(c, None)) for c in deployment.config.connections)

    def on_summary(summary):
        summaries.append(summary)
        if len(summaries) >= units:
            stop.set()

    runner.run_forever(store, deployment.config, stop, clock=deployment.clock, on_summary=on_summary)
    _check(store, summaries, poisoned)


def test_a_store_blip_is_waited_out_and_a_long_outage_ends_with_one_line(monkeypatch):
    from sqlalchemy.exc import OperationalError

    from ml_connector.flows.context import FlowSummary

    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] < 3:
            raise OperationalError(
                "SELECT 1", {}, Exception("terminating connection due to administrator command")
            )
        return FlowSummary("orders", "shop")

    monkeypatch.setattr(runner, "_run_unit", flaky)
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)  # the backoff's waits, not real time
    connection = type("C", (), {"name": "shop"})()
    summary = runner.run_flow(None, connection, "orders", clock=None)
    assert summary.flow == "orders" and calls["n"] == 3

    def down(*args):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(runner, "_run_unit", down)
    with pytest.raises(runner.StoreUnavailable) as stopped:
        runner.run_flow(None, connection, "orders", clock=None, outage_budget=10)
    assert "still down after" in str(stopped.value) and "\n" not in str(stopped.value)


def test_a_report_whose_download_keeps_failing_is_deferred_and_read_again_next_run(
    deployment, store, monkeypatch
):
    """An expired presigned URL (S3's 403) is asked for again once; still failing, the report is
    deferred (counted and named) and the cursor held before it, so the next run reads it."""
    import httpx

    from ml_connector.sources.amazon.client import SpApiClient

    amazon = deployment.state("amazon")
    bad = min(
        (r for r in amazon.reports.values() if r.settlement and r.marketplace_ids[0] == "ATVPDKIKX0DER"),
        key=lambda r: r.created,
    )
    real = SpApiClient.download_report
    tries = Counter()

    def download_report(self, report_id):
        if report_id == bad.report_id:
            tries[report_id] += 1
            request = httpx.Request("GET", "https://s3.example/doc")
            raise httpx.HTTPStatusError(
                "403 Forbidden", request=request, response=httpx.Response(403, request=request)
            )
        return real(self, report_id)

    monkeypatch.setattr(SpApiClient, "download_report", download_report)
    [summary] = runner.sync(
        store, deployment.config, flows=["settlements"], connection=M3_CONNECTION, clock=deployment.clock
    )
    assert store.find_record(M3_CONNECTION, "settlement", bad.settlement.settlement_id) is None
    assert tries[bad.report_id] == 2 and summary.counts["deferred"] == 1 and summary.counts["posted"] > 0
    assert any(bad.report_id in note and "could not be downloaded" in note for note in summary.notes)
    assert datetime.fromisoformat(store.get_cursor(M3_CONNECTION, "settlements")) < bad.created
    monkeypatch.setattr(SpApiClient, "download_report", real)
    [again] = runner.sync(
        store, deployment.config, flows=["settlements"], connection=M3_CONNECTION, clock=deployment.clock
    )
    assert again.counts["posted"] >= 1, again.counts
    posted = store.find_record(M3_CONNECTION, "settlement", bad.settlement.settlement_id)
    assert posted is not None and posted.state == "posted"  # the deferred report, read and posted now
