"""Customers through CRS610MI: created from a template customer, found again by the document key
written into a listed reference field (YREF by default)."""

from __future__ import annotations

from ml_connector.errors import ConfigurationError, PermanentError
from ml_connector.model.documents import CustomerDocument
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.settings import M3Settings

KEY_FIELD_LENGTH = 30


def fit(value: str | None, length: int) -> str:
    return (value or "").strip()[:length]


class CustomerPoster:
    def __init__(self, mi: MiClient, settings: M3Settings) -> None:
        self._mi = mi
        self._settings = settings

    def list_customers(self) -> list[dict[str, str]]:
        return self._mi.call("CRS610MI", "LstByNumber", {"CONO": self._settings.company}, maxrecs=0)

    def find(self, document: CustomerDocument) -> str | None:
        field = self._settings.customer_key_field
        for row in self.list_customers():
            if row.get(field) == document.key:
                return row["CUNO"]
        return None

    def find_all(self, document: CustomerDocument) -> list[str]:
        field = self._settings.customer_key_field
        return [row["CUNO"] for row in self.list_customers() if row.get(field) == document.key]

    def post(self, document: CustomerDocument) -> str:
        if not self._settings.customer_template:
            raise ConfigurationError(
                "M3 customer_template is not set: name the customer new Amazon customers are copied from"
            )
        if len(document.key) > KEY_FIELD_LENGTH:
            raise PermanentError(
                f"customer key {document.key!r} is longer than {KEY_FIELD_LENGTH} characters"
            )
        address = document.address
        fields = {
            "CONO": self._settings.company,
            "CUTM": self._settings.customer_template,
            "CUNM": fit(document.name, 36),
            "CUA1": fit((address.line1 if address else None) or document.name, 36),
            "CUA2": fit(address.line2 if address else None, 36),
            "TOWN": fit(address.city if address else None, 20),
            "PONO": fit(address.postal_code if address else None, 10),
            "PHNO": fit(address.phone if address else None, 16),
            "CSCD": fit((address.country_code if address else None) or document.country_code, 3),
            self._settings.customer_key_field: document.key,
        }
        records = self._mi.call("CRS610MI", "Add", fields)
        number = records[0].get("CUNO", "") if records else ""
        if not number:
            raise PermanentError(f"CRS610MI.Add returned no customer number for {document.key}")
        return number
