"""easy-acumatica (a schema-driven Acumatica client on PyPI) as a judge of the Acumatica sandbox.

At start-up the client signs in, reads `GET /entity`, builds its models and services from the
endpoint's `swagger.json` and its inquiries from the generic-inquiry OData `$metadata`: it can only
start against a sandbox that serves those as Acumatica does. The sandbox sits at the site root
(easy-acumatica prepends its base URL to the site-relative `_links`, so a virtual directory would
be doubled by the client, not by us). Calls the contract allows must succeed; calls it refuses must
fail with Acumatica's own answer, raised as the client's exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from easy_acumatica import AcumaticaClient
from easy_acumatica.exceptions import AcumaticaError
from easy_acumatica.odata import QueryOptions

from ml_connector.clock import Clock
from ml_connector.sandbox.acumatica import state as world
from ml_connector.sandbox.acumatica.app import create_app
from ml_connector.sandbox.server import serve_in_thread

PEER = "easy-acumatica"
VERSION = "24.200.001"


class Peer:
    def __init__(self, cache: Path) -> None:
        self.clock = Clock(100.0)
        self.app = create_app(clock=self.clock, base_path="")
        self.sandbox = self.app.state.sandbox
        self.server = serve_in_thread(self.app, name="acumatica-peer")
        self.cache = cache

    def client(self, **options) -> AcumaticaClient:
        values = dict(
            base_url=self.server.url,
            username=world.USERNAME,
            password=world.PASSWORD,
            tenant=world.TENANT,
            cache_dir=self.cache,  # else the client writes the GI metadata into its own package
            auto_load_env=False,  # never read a developer's .env
            rate_limit_calls_per_second=1000.0,
            timeout=10,
        )
        values.update(options)
        return AcumaticaClient(**values)


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Peer]:
    box = Peer(tmp_path)
    yield box
    box.server.stop()
    assert box.sandbox.open_sessions == 0, "the peer left an API session open"


def acumatica_says(text: str, status: int | None = None):
    """Raised by the client with Acumatica's own words (and the real service's status)."""

    def check(exc: BaseException) -> bool:
        return (
            isinstance(exc, AcumaticaError)
            and text.lower() in str(exc).lower()
            and (status is None or getattr(exc, "status_code", None) == status)
        )

    return check


def test_sign_in_schema_reads_put_action_sign_out(peer: Peer, judge) -> None:
    client = judge.ok("sign-in, GET /entity, swagger.json and GI $metadata", peer.client)
    try:
        assert client.endpoint_version == VERSION
        assert {"StockItem", "Customer", "JournalTransaction"} <= set(client.list_services())
        assert "InventoryQuantityAvailable" in client.list_inquiries()

        items = judge.ok(
            "StockItem get_list with $filter/$expand/$top/$skip",
            lambda: client.stock_item.get_list(
                options=QueryOptions(
                    filter="ItemStatus eq 'Active'", expand=["WarehouseDetails"], select=None, top=3, skip=1
                )
            ),
        )
        every = [r["InventoryID"] for r in peer.sandbox.records["StockItem"].values()]  # stored order
        assert [i["InventoryID"]["value"] for i in items] == every[1:4]
        assert all(i["WarehouseDetails"] for i in items) and all("_links" in i for i in items)
        since = (peer.clock.now() - timedelta(days=1)).isoformat(timespec="milliseconds")
        recent = judge.ok(
            "StockItem get_list with a datetimeoffset $filter",
            lambda: client.stock_item.get_list(
                options=QueryOptions(filter=f"LastModifiedDateTime gt datetimeoffset'{since}'", top=50)
            ),
        )
        assert len(recent) == len(every)
        one = judge.ok("StockItem get_by_keys", lambda: client.stock_item.get_by_keys(InventoryID=every[0]))
        assert one["InventoryID"] == {"value": every[0]}
        judge.ok("SalesInvoice $adHocSchema", client.sales_invoice.get_ad_hoc_schema)

        customer = client.models.Customer(
            CustomerID="PEER01", CustomerName="Peer judge", CustomerClass="DEFAULT"
        )
        saved = judge.ok("Customer put_entity (a model)", lambda: client.customer.put_entity(customer))
        assert saved["CustomerID"] == {"value": "PEER01"} and peer.sandbox.find_by_keys(
            "Customer", ("PEER01",)
        )
        judge.ok(
            "Customer put_file through _links files:put",
            lambda: client.customer.put_file(saved["id"], "note.txt", b"judged", comment="peer"),
        )
        files = judge.ok("Customer get_files", lambda: client.customer.get_files(saved["id"]))
        assert [f["filename"] for f in files] == ["note.txt"]

        batch = client.journal_transaction.put_entity(
            {
                "Description": {"value": "peer judge batch"},
                "Hold": {"value": False},
                "Details": [
                    {"Account": {"value": "10250"}, "DebitAmount": {"value": 10}},
                    {"Account": {"value": world.CLEARING_ACCOUNT}, "CreditAmount": {"value": 10}},
                ],
            }
        )
        invocation = client.models.ReleaseJournalTransaction(
            entity=client.models.JournalTransaction(Module="GL", BatchNbr=batch["BatchNbr"]["value"])
        )
        judge.ok(
            "JournalTransaction ReleaseJournalTransaction action (202)",
            lambda: client.journal_transaction.invoke_action_release_journal_transaction(invocation),
        )
        peer.clock.advance(peer.sandbox.config.action_seconds + 0.1)  # the client never polls
        released = client.journal_transaction.get_by_id(batch["id"])
        assert released["Status"] == {"value": "Posted"}

        rows = judge.ok("generic inquiry over OData", lambda: client.inquiries.InventoryQuantityAvailable())
        assert len(rows["value"]) == len(every)

        judge.fails(
            "Customer get_by_keys of a missing customer",
            lambda: client.customer.get_by_keys(CustomerID="NOPE"),
            acumatica_says("No entity satisfies the condition", 500),
        )
        judge.fails(
            "Customer put_entity without CustomerName",
            lambda: client.customer.put_entity({"CustomerID": {"value": "PEER02"}}),
            acumatica_says("record raised at least one error", 422),  # the entity echo
        )
        judge.fails(
            "an endpoint version the instance lacks",
            lambda: client.customer.get_list(api_version="99.999.999"),
            lambda exc: (
                isinstance(exc, AcumaticaError) and "404" in str(exc) or "No HTTP resource" in str(exc)
            ),
        )
    finally:
        judge.ok("sign-out", client.logout)
    judge.fails(
        "a read after sign-out",
        lambda: client.customer.get_list(),
        acumatica_says("not logged in", 401),
    )
    client.close()
