"""Value wrapping, exact decimals, OData literals, and the sandbox's $filter subset."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.sandbox.acumatica.odata import FilterError, filter_fields, parse_filter
from ml_connector.targets.acumatica.values import dumps, field_errors, loads, odata_string, unwrap, wrap


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12))
def test_decimals_survive_the_wire_exactly(amount):
    assert unwrap(loads(dumps(wrap({"Amount": amount}))))["Amount"] == amount


def test_wrap_and_unwrap_both_directions():
    body = wrap(
        {
            "Type": "Invoice",
            "Hold": False,
            "Date": date(2025, 3, 2),
            "Skip": None,
            "Details": [{"Qty": Decimal("2"), "UnitPrice": Decimal("29.990")}],
            "MainContact": {"Address": {"Country": "US"}},
        }
    )
    assert body["Type"] == {"value": "Invoice"} and body["Hold"] == {"value": False}
    assert body["Date"] == {"value": "2025-03-02T00:00:00"}
    assert "Skip" not in body
    assert body["MainContact"] == {"Address": {"Country": {"value": "US"}}}
    assert b'"UnitPrice": {"value": 29.990}' in dumps(body)
    answer = {"id": "x", "CustomerID": {}, "Amount": {"value": 1222.8}, "Details": [{"Qty": {"value": 1.0}}]}
    plain = unwrap(loads(dumps(answer)))
    assert plain == {
        "id": "x",
        "CustomerID": None,
        "Amount": Decimal("1222.8"),
        "Details": [{"Qty": Decimal("1.0")}],
    }


def test_field_errors_are_collected_with_their_paths():
    echo = {
        "error": "Inserting  'SO Invoice' record raised at least one error.",
        "CustomerID": {"value": "AMZ-XX", "error": "'Customer' cannot be found in the system."},
        "Details": [{"InventoryID": {"value": "NOPE", "error": "'Inventory ID' cannot be found."}}],
    }
    assert field_errors(echo) == [
        ("", "Inserting  'SO Invoice' record raised at least one error."),
        ("CustomerID", "'Customer' cannot be found in the system."),
        ("Details[0].InventoryID", "'Inventory ID' cannot be found."),
    ]


def test_odata_string_literals_escape_quotes():
    record = {"CustomerOrder": "O'Brien-1"}
    assert parse_filter(f"CustomerOrder eq {odata_string(record['CustomerOrder'])}")(record)


def test_filter_subset():
    record = {
        "Type": "Invoice",
        "Amount": 59.98,
        "Hold": False,
        "LastModifiedDateTime": "2025-03-02T10:15:04.12+00:00",
        "MainContact": {"Email": "a@b.c"},
    }
    assert parse_filter("Type eq 'Invoice' and Amount gt 50 and Hold eq false")(record)
    assert parse_filter("LastModifiedDateTime gt datetimeoffset'2025-03-02T10:15:00+00:00'")(record)
    assert not parse_filter("LastModifiedDateTime lt datetimeoffset'2025-03-02T11:00:00+01:00'")(
        record
    )  # 10:00 UTC
    assert parse_filter("MainContact/Email eq 'a@b.c' and (Type eq 'X' or substringof('nvo', Type))")(record)
    assert parse_filter("not (Type ne 'Invoice') and startswith(Type,'Inv') and endswith(Type,'ice')")(record)
    assert filter_fields("Type eq 'Invoice' and MainContact/Email eq 'x'") == {"Type", "MainContact"}
    with pytest.raises(FilterError):
        parse_filter("Type eq")


def test_settings_and_credentials_from_stored_configuration():
    from ml_connector.targets.acumatica import AcumaticaCredentials, AcumaticaSettings

    settings = AcumaticaSettings.from_mapping(
        {
            "url": "https://erp.example.com/AcumaticaERP/",
            "tenant": "Seller1",
            "endpoint_version": "23.200.001",
            "branch": "",
            "warehouse": "",
            "ar_control_accounts": ["11000"],
            "invoice_settlement": "payment",
            "unknown_key": 1,
        }
    )
    assert settings.endpoint_base == "https://erp.example.com/AcumaticaERP/entity/Default/23.200.001"
    assert settings.branch == "MAIN" and settings.warehouse is None
    assert settings.ar_control_accounts == frozenset({"11000"}) and not settings.has_external_ref
    credentials = AcumaticaCredentials.from_secrets(
        {"client_id": "GUID@Seller1", "client_secret": "s3cr3t", "username": "api", "password": "pw-123"}
    )
    assert "s3cr3t" not in repr(credentials) and "pw-123" not in repr(credentials)
