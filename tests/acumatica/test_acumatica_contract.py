"""The sandbox and the client speak the official contract: every field of every answer and every
request body exists on the entity in that version's OpenAPI document and carries its value wrapper."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ml_connector.sandbox.acumatica import state as world
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.values import loads, wrap

from .conftest import customer_doc, invoice_doc, journal_doc

MODELS = Path(__file__).with_name("models")
VERSIONS = ["23.200.001", "24.200.001"]
SYSTEM = {"id", "rowNumber", "note", "custom", "error", "files"}
RESPONSE_ONLY = {"_links"}  # real answers carry it; the documents do not declare it
WRAPPERS = {
    "StringValue": str,
    "GuidValue": str,
    "DateTimeValue": str,
    "DecimalValue": (int, float),
    "DoubleValue": (int, float),
    "IntValue": int,
    "ShortValue": int,
    "LongValue": int,
    "ByteValue": int,
    "BooleanValue": bool,
}


@cache
def schemas(version: str) -> dict[str, Any]:
    return json.loads((MODELS / f"Default_{version}.schemas.json").read_text())["schemas"]


def properties(version: str, name: str) -> dict[str, Any]:
    schema = schemas(version)[name]
    result: dict[str, Any] = {}
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            result.update(properties(version, part["$ref"].rsplit("/", 1)[1]))
        result.update(part.get("properties", {}))
    return result


def violations(
    version: str, entity: str, data: dict[str, Any], *, response: bool, path: str = ""
) -> list[str]:
    found = []
    props = properties(version, entity)
    for name, value in data.items():
        where = f"{path}{entity}.{name}"
        if name in SYSTEM or (response and name in RESPONSE_ONLY) or name == "delete":
            continue
        if name not in props:
            found.append(f"{where}: not in Default/{version}")
            continue
        spec = props[name]
        if spec.get("type") == "array":
            child = spec["items"]["$ref"].rsplit("/", 1)[1]
            for index, row in enumerate(value):
                found += violations(version, child, row, response=response, path=f"{where}[{index}]/")
            continue
        ref = spec["$ref"].rsplit("/", 1)[1]
        if ref in WRAPPERS:
            if not isinstance(value, dict) or not set(value) <= {"value", "error"}:
                found.append(f"{where}: not wrapped: {value!r}")
            elif "value" in value and value["value"] is not None:
                expected = WRAPPERS[ref]
                inner = value["value"]
                ok = isinstance(inner, expected) and not (expected is not bool and isinstance(inner, bool))
                if ref == "DecimalValue" and not response:
                    ok = ok or type(inner).__name__ == "Decimal"
                if ref == "DateTimeValue" and ok:
                    datetime.fromisoformat(inner)
                if not ok:
                    found.append(f"{where}: {ref} holds {type(inner).__name__}")
        else:
            found += violations(version, ref, value, response=response, path=f"{where}/")
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_request_bodies_use_the_contract_fields(acumatica, version):
    settings = acumatica.settings(endpoint_version=version)
    cases = [
        ("Customer", bodies.customer_body(settings, customer_doc())),
        ("SalesInvoice", bodies.sales_invoice_body(settings, invoice_doc("113-1"))),
        ("SalesOrder", bodies.sales_order_body(settings, invoice_doc("113-2", kind="sales_order"))),
        ("JournalTransaction", bodies.journal_body(settings, journal_doc("1"))),
    ]
    for entity, body in cases:
        # through the client's own encoder and back, so Decimals are checked as the wire has them
        from ml_connector.targets.acumatica.values import dumps

        assert violations(version, entity, loads(dumps(wrap(body))), response=False) == [], entity
    assert ("ExternalRef" in cases[1][1]) == (version == "24.200.001")


@pytest.mark.parametrize("version", VERSIONS)
def test_sandbox_answers_match_the_official_schemas(acumatica, version):
    with acumatica.target(
        endpoint_version=version, invoice_settlement="payment", payment_cash_account="AMZCLEAR"
    ) as target:
        target.post(customer_doc())
        target.post(invoice_doc("113-0000001-0000001"))
        order_nbr = target.post(invoice_doc("113-0000002-0000002", kind="sales_order"))
        acumatica.sandbox.ship_order(order_nbr, "1Z999")
        target.post(journal_doc("30000000001"))
        client = target.client
        client.put(
            "Payment",
            {
                "Type": "Payment",
                "CustomerID": "AMZ-US",
                "CashAccount": "AMZCLEAR",
                "PaymentAmount": Decimal("10.00"),
                "PaymentRef": "30000000001",
                "DocumentsToApply": [
                    {"DocType": "Invoice", "ReferenceNbr": "INV000001", "AmountPaid": Decimal("10.00")}
                ],
            },
        )

        def raw(method: str, path: str, **params: str) -> Any:
            response = client.request(
                method, path, params=params or None, body={} if method == "PUT" else None
            )
            return json.loads(response.content)

        answers = [
            ("Customer", raw("GET", "Customer/AMZ-US")),
            ("SalesInvoice", raw("GET", "SalesInvoice", **{"$expand": "Details"})[0]),
            ("SalesOrder", raw("GET", "SalesOrder", **{"$expand": "Details"})[0]),
            ("JournalTransaction", raw("GET", "JournalTransaction", **{"$expand": "Details"})[0]),
            (
                "StockItem",
                raw("GET", "StockItem", **{"$expand": "CrossReferences,WarehouseDetails", "$top": "3"})[0],
            ),
            (
                "InventoryQuantityAvailable",
                raw("PUT", "InventoryQuantityAvailable", **{"$expand": "Results"}),
            ),
            ("Shipment", raw("GET", "Shipment", **{"$expand": "Details,Packages,Orders"})[0]),
            ("Payment", raw("GET", "Payment", **{"$expand": "DocumentsToApply"})[0]),
        ]
        for entity, answer in answers:
            assert violations(version, entity, answer, response=True) == [], entity
            if entity != "InventoryQuantityAvailable":  # inquiry rows have session-only ids, no links
                assert answer["_links"]["self"].startswith(f"/erp/entity/Default/{version}/{entity}/")
        assert answers[1][1]["Details"] and answers[5][1]["Results"] and answers[6][1]["Packages"]


def test_422_and_500_bodies_have_the_documented_shapes(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        bad = wrap(
            {"Type": "Invoice", "CustomerID": "AMZ-XX", "Details": [{"InventoryID": "NOPE-1", "Qty": 1}]}
        )
        rejected = target.client.request("PUT", "SalesInvoice", body=bad, headers={"If-None-Match": "*"})
        assert rejected.status_code == 422
        echo = rejected.json()
        assert echo["error"].startswith("Inserting  'SO Invoice' record raised at least one error")
        assert echo["CustomerID"]["error"] == "'Customer' cannot be found in the system."
        assert echo["Details"][0]["InventoryID"]["error"] == "'Inventory ID' cannot be found in the system."
        assert echo["ReferenceNbr"] == {"value": "<NEW>"}
        assert violations("24.200.001", "SalesInvoice", echo, response=True) == []
        missing = target.client.request("GET", "SalesInvoice/Invoice/INV404404")
        assert missing.status_code == 500
        assert set(missing.json()) <= set(properties("24.200.001", "HttpError"))
        assert (
            missing.json()["exceptionType"] == "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException"
        )
        assert target.client.request("GET", "SalesInvoice/NoSuchAction/status/x").status_code in (404, 500)
    assert world.TENANT
