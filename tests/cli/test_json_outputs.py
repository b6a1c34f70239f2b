"""--json documents match their documented shapes (docs/CLI.md); piped tables keep full values."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.model.documents import CustomerDocument

LONG_ERROR = "SKU LONG-1 has no ERP item; closest: " + ", ".join(f"ITEM{n:04d}" for n in range(40))
SECRETS = '{"client_id":"amzn1.application-oa2-client.j1","client_secret":"sec-j1","refresh_token":"Atzr|j1"}'


class Target:
    def find(self, document):  # noqa: ANN001, ANN201
        return None

    def post(self, document):  # noqa: ANN001, ANN201
        return f"ERP-{document.key}"


@pytest.fixture
def filled(ml_home: Path, run_cli) -> None:
    assert (
        run_cli(
            "connect", "amazon", "--name", "shop", "--secrets-stdin", "--no-check", input=SECRETS
        ).exit_code
        == 0
    )
    store = Store.open()
    engine = PostingEngine(store, "shop", flow="orders")
    for n in range(3):
        engine.post(
            CustomerDocument(key=f"ORD-{n}", name="Marketplace US", currency="USD"), Target(), source={}
        )
    for n in range(2):
        engine.fail("customer", f"BAD-{n}", LONG_ERROR, source={"sku": "LONG-1"})
    store.close()


def _doc(text: str, kind: str) -> dict:
    data = json.loads(text)
    assert data["version"] == 1 and data["kind"] == kind
    return data


INT, STR, NSTR = {"type": "integer"}, {"type": "string"}, {"type": ["string", "null"]}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required or list(props)}


RECORD = _obj({"id": INT, "connection": STR, "flow": STR, "kind": STR, "key": STR, "state": STR,
               "erp_id": NSTR, "attempts": INT, "error": NSTR, "updated_at": STR})  # fmt: skip
SCHEMAS = {
    "records": _obj(
        {"total": INT, "offset": INT, "limit": INT, "records": {"type": "array", "items": RECORD}}
    ),
    "status": _obj(
        {
            "flows": {
                "type": "array",
                "items": _obj(
                    {
                        "connection": STR,
                        "flow": STR,
                        "last_run_started": NSTR,
                        "last_run_state": NSTR,
                        "posted": INT,
                        "failed": INT,
                        "pending": INT,
                    }
                ),
            },
            "connections_without_runs": {"type": "array", "items": STR},
        }
    ),  # fmt: skip
    "connections": _obj(
        {
            "connections": {
                "type": "array",
                "items": _obj(
                    {
                        "name": STR,
                        "erp": STR,
                        "amazon": {"type": "object"},
                        "erp_identity": {"type": "object"},
                        "credentials": {"type": "array", "items": STR},
                    }
                ),
            }
        }
    ),  # fmt: skip
    "audit": _obj(
        {
            "record": _obj(
                {
                    "id": INT,
                    "connection": STR,
                    "flow": STR,
                    "kind": STR,
                    "key": STR,
                    "state": STR,
                    "erp_id": NSTR,
                    "error": NSTR,
                }
            ),
            "events": {"type": "array", "items": _obj({"at": STR, "event": STR, "message": NSTR})},
        }
    ),  # fmt: skip
}


@pytest.mark.usefixtures("filled")
@pytest.mark.parametrize(
    ("argv", "kind"),
    [(["records", "--json"], "records"), (["status", "--json"], "status"),
     (["connections", "--json"], "connections"), (["audit", "BAD-0", "--json"], "audit")],
)  # fmt: skip
def test_json_documents_have_their_documented_shape(run_cli, argv, kind) -> None:
    result = run_cli(*argv)
    assert result.exit_code == 0, result.output
    data = _doc(result.stdout, kind)
    jsonschema.validate(data, SCHEMAS[kind])
    assert "sec-j1" not in result.stdout


@pytest.mark.usefixtures("filled")
def test_piped_records_keep_every_value_whole_and_page(run_cli) -> None:
    failed = run_cli("records", "--state", "failed")
    header, *rows = failed.stdout.splitlines()
    assert header.split("\t") == [
        "id",
        "connection",
        "flow",
        "kind",
        "key",
        "state",
        "ERP id",
        "tries",
        "error",
    ]
    assert len(rows) == 2 and all(row.split("\t")[8] == LONG_ERROR for row in rows)
    page = run_cli("records", "--limit", "2", "--offset", "2")
    assert len(page.stdout.splitlines()) == 3
    assert "showing 3-4 of 5 records" in page.stderr and "--offset 4" in page.stderr
    as_json = _doc(run_cli("records", "--json", "--limit", "2").stdout, "records")
    assert as_json["total"] == 5 and len(as_json["records"]) == 2
    status = run_cli("status").stdout.splitlines()
    assert status[0].split("\t")[0] == "connection" and status[1].split("\t")[5:8] == ["3", "2", "0"]
    connections = run_cli("connections").stdout.splitlines()
    assert connections[1].split("\t")[0] == "shop"
