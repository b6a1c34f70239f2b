"""The Acumatica sandbox behaves as the real service where schema-driven clients and the crash
path look: releases run on the server after their delay whether polled or not (and can fail in
the background), dates keep their offset, unset fields are {}, `_links` carry `files:put`,
swagger.json / $adHocSchema / the generic-inquiry $metadata are served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from ml_connector.errors import PermanentError, TransientError
from ml_connector.sandbox.acumatica import state as world

from .conftest import customer_doc, journal_doc

VERSION = "24.200.001"


@contextmanager
def signed_in(acumatica) -> Iterator[httpx.Client]:
    http = httpx.Client(base_url=f"{acumatica.site}/entity/Default/{VERSION}", timeout=10)
    answer = http.post(
        f"{acumatica.site}/entity/auth/login",
        json={"name": world.USERNAME, "password": world.PASSWORD, "tenant": world.TENANT},
    )
    assert answer.status_code == 204
    try:
        yield http
    finally:
        http.post(f"{acumatica.site}/entity/auth/logout")
        http.close()


def _saved_batch(acumatica, action_seconds: float = 300.0) -> dict:
    """A saved, unreleased batch; releases then take ``action_seconds`` of sandbox time (long, so
    that no assertion depends on how fast this machine runs)."""
    acumatica.sandbox.config.action_seconds = action_seconds
    with acumatica.target(release_journals=False) as target:
        target.post(journal_doc("55500000001"))
    return next(iter(acumatica.sandbox.records["JournalTransaction"].values()))


def _release(http: httpx.Client, batch: dict) -> httpx.Response:
    return http.post("/JournalTransaction/ReleaseJournalTransaction", json={"entity": {"id": batch["id"]}})


def test_a_release_takes_effect_after_its_delay_without_any_poll(acumatica) -> None:
    batch = _saved_batch(acumatica)
    assert batch["Status"] == "Balanced"
    with signed_in(acumatica) as http:
        accepted = _release(http, batch)
        assert accepted.status_code == 202 and "/status/" in accepted.headers["location"]
        assert http.get(f"/JournalTransaction/{batch['id']}").json()["Status"] == {"value": "Balanced"}
        acumatica.clock.advance(acumatica.sandbox.config.action_seconds + 0.1)
        assert http.get(f"/JournalTransaction/{batch['id']}").json()["Status"] == {"value": "Posted"}
        assert (
            http.get(acumatica.server.url + accepted.headers["location"]).status_code == 204
        )  # polled late: done


def test_a_second_release_while_one_runs_is_refused_and_our_client_asks_again_later(acumatica) -> None:
    batch = _saved_batch(acumatica)
    with signed_in(acumatica) as http:
        assert _release(http, batch).status_code == 202
        busy = _release(http, batch)
    assert busy.status_code == 500 and busy.json()["exceptionMessage"] == world.BUSY
    with acumatica.target() as target:
        with pytest.raises(TransientError, match="still running an earlier action"):
            target.client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": batch["id"]})


def test_a_release_can_fail_in_the_background(acumatica) -> None:
    batch = _saved_batch(acumatica, action_seconds=2.0)
    acumatica.faults.rate_action_failure = 1.0
    with signed_in(acumatica) as http:
        accepted = _release(http, batch)
        assert accepted.status_code == 202  # accepted first, fails later
        acumatica.clock.advance(acumatica.sandbox.config.action_seconds + 0.1)
        failed = http.get(acumatica.server.url + accepted.headers["location"])
    assert failed.status_code == 500 and "failed on the server" in failed.json()["exceptionMessage"]
    assert acumatica.sandbox.records["JournalTransaction"][batch["id"]]["Status"] == "Balanced"
    with acumatica.target() as target:
        with pytest.raises(PermanentError, match="failed on the server"):
            target.client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": batch["id"]})
    assert acumatica.faults.injected["action_failure"] == 2


def test_a_release_whose_reply_was_lost_is_found_released_without_a_second_release(acumatica) -> None:
    """The crash path as Acumatica has it: the release was accepted, its answer never arrived (the
    run died or the reply was lost); the server finishes it anyway and find() sees it posted."""
    batch = _saved_batch(acumatica)
    acumatica.sandbox.config.lost_reply_rate = 1.0
    with acumatica.target() as target:
        with pytest.raises(TransientError):
            target.client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": batch["id"]})
        acumatica.sandbox.config.lost_reply_rate = 0.0
        acumatica.clock.advance(acumatica.sandbox.config.action_seconds + 0.1)
        before = acumatica.sandbox.requests["POST JournalTransaction"]
        assert target.find(journal_doc("55500000001")) == batch["BatchNbr"]
        assert acumatica.sandbox.requests["POST JournalTransaction"] == before  # not released twice
    assert acumatica.sandbox.records["JournalTransaction"][batch["id"]]["Status"] == "Posted"


def test_dates_echo_with_their_offset_and_unset_fields_are_empty_objects(acumatica) -> None:
    with acumatica.target() as target:
        target.post(customer_doc())
    with signed_in(acumatica) as http:
        saved = http.put(
            "/SalesInvoice",
            json={
                "CustomerID": {"value": "AMZ-US"},
                "Date": {"value": "2025-03-02T00:00:00"},
                "CustomerOrder": {"value": "113-0000077-0000001"},
                "Details": [
                    {
                        "InventoryID": {
                            "value": next(iter(acumatica.sandbox.records["StockItem"].values()))[
                                "InventoryID"
                            ]
                        },
                        "Qty": {"value": 1},
                    }
                ],
            },
        ).json()
        listed = http.get(
            "/SalesInvoice", params={"$filter": "CustomerOrder eq '113-0000077-0000001'"}
        ).json()
    assert saved["Date"] == {"value": "2025-03-02T00:00:00+00:00"}
    assert saved["LastModifiedDateTime"]["value"].endswith("+00:00")
    assert saved["Project"] == {} and listed[0]["DueDate"] == {}  # never set: {} as the real service
    assert "Details" not in listed[0]


def test_links_carry_files_put_and_an_attached_file_is_listed(acumatica) -> None:
    batch = _saved_batch(acumatica)
    with signed_in(acumatica) as http:
        record = http.get(f"/JournalTransaction/{batch['id']}", params={"$expand": "Details"}).json()
        links = record["_links"]
        assert links["self"].endswith(f"/JournalTransaction/{batch['id']}")
        assert links["files:put"].startswith(
            "/erp/entity/Default/24.200.001/files/PX.Objects.GL.JournalEntry/"
        )
        assert links["files:put"].endswith(f"/{batch['id']}/{{filename}}")
        assert record["Details"][0]["_links"]["files:put"].endswith("/{filename}")
        upload = httpx.URL(acumatica.server.url).join(
            links["files:put"].replace("{filename}", "settlement.txt")
        )
        assert http.put(str(upload), content=b"raw settlement").status_code == 204
        files = http.get(f"/JournalTransaction/{batch['id']}", params={"$expand": "files"}).json()["files"]
        assert [f["filename"] for f in files] == ["settlement.txt"]
        assert (
            http.get(str(httpx.URL(acumatica.server.url).join(files[0]["href"]))).content == b"raw settlement"
        )


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_swagger_json_is_the_shipped_openapi_document(acumatica, encoding: str) -> None:
    url = f"{acumatica.site}/entity/Default/{VERSION}/swagger.json?company={world.TENANT}"
    raw = httpx.get(url, headers={"Accept-Encoding": encoding})
    assert raw.status_code == 200
    assert raw.headers.get("content-encoding") == ("gzip" if encoding == "gzip" else None)
    document = raw.json()  # httpx undoes the gzip
    assert document["info"]["title"] == f"Default/{VERSION}" and "MIT" in document["info"]["license"]["name"]
    assert document["servers"] == [{"url": f"{acumatica.site}/entity/Default/{VERSION}"}]
    assert "/SalesInvoice/ReleaseSalesInvoice" in document["paths"]
    from ml_connector.sandbox.acumatica.openapi import shipped

    original = json.loads(shipped(VERSION))
    assert document["paths"] == original["paths"] and document["components"] == original["components"]


def test_ad_hoc_schema_and_generic_inquiry_metadata(acumatica) -> None:
    with signed_in(acumatica) as http:
        schema = http.get("/SalesInvoice/$adHocSchema")
    assert schema.status_code == 200 and schema.json()["custom"] == {} and schema.json()["Type"] == {}
    gi = f"{acumatica.server.url}/erp/t/{world.TENANT}/api/odata/gi"
    assert httpx.get(f"{gi}/$metadata").status_code == 401
    metadata = httpx.get(f"{gi}/$metadata", auth=(world.USERNAME, world.PASSWORD))
    assert metadata.status_code == 200 and 'EntitySet Name="InventoryQuantityAvailable"' in metadata.text
    feed = httpx.get(
        f"{gi}/InventoryQuantityAvailable", params={"$top": 2}, auth=(world.USERNAME, world.PASSWORD)
    )
    assert len(feed.json()["value"]) == 2 and {"InventoryID", "QtyAvailable"} <= set(feed.json()["value"][0])
