"""PII redaction of payload snapshots, and the log safety net for secrets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import pytest

from ml_connector.engine.redact import REDACTED, install_log_redaction, redact_pii, register_secrets, scrub
from ml_connector.model.orders import Address


def test_buyer_pii_is_redacted_but_business_fields_kept() -> None:
    order = {
        "AmazonOrderId": "123-4567890-1234567",
        "BuyerInfo": {"BuyerEmail": "jane@marketplace.amazon.com", "BuyerName": "Jane Doe"},
        "ShippingAddress": {
            "Name": "Jane Doe",
            "AddressLine1": "1 Main St",
            "City": "Berlin",
            "PostalCode": "10115",
            "CountryCode": "DE",
            "Phone": "+49 30 1234",
        },
        "OrderTotal": {"Amount": Decimal("12.30"), "CurrencyCode": "EUR"},
        "customer": {"name": "Amazon.de marketplace"},  # a business name, not a person
    }
    out = redact_pii(order)
    text = str(out)
    for pii in ("jane@", "Jane Doe", "1 Main St", "10115", "+49 30"):
        assert pii not in text
    assert out["ShippingAddress"]["CountryCode"] == "DE" and out["ShippingAddress"]["City"] == "Berlin"
    assert out["OrderTotal"] == {"Amount": "12.30", "CurrencyCode": "EUR"}
    assert out["customer"]["name"] == "Amazon.de marketplace"
    assert out["AmazonOrderId"] == "123-4567890-1234567"


def test_dataclasses_are_redacted_too() -> None:
    @dataclass
    class Doc:
        key: str
        ship_to: Address

    out = redact_pii(Doc("O-1", Address(name="Jane", line1="1 Main St", country_code="US", phone="555")))
    assert out["ship_to"]["name"] == REDACTED and out["ship_to"]["country_code"] == "US"


def test_scrub_patterns_and_known_secrets() -> None:
    register_secrets(["s3cr3t-value-xyz"])
    text = scrub(
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc refresh Atzr|IwEBxyz client_secret=abc123 "
        'password: hunter22 {"sask": "k3y"} also s3cr3t-value-xyz'
    )
    for secret in ("eyJhbGci", "Atzr|IwEB", "abc123", "hunter22", "k3y", "s3cr3t-value-xyz"):
        assert secret not in text


def test_log_records_are_scrubbed_whatever_the_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    register_secrets(["my-very-private-token"])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library.deep").warning("sending %s", "my-very-private-token")
        try:
            raise ValueError("boom my-very-private-token")
        except ValueError:
            logging.getLogger("x").exception("failed")
    assert "my-very-private-token" not in caplog.text
    assert REDACTED in caplog.text
