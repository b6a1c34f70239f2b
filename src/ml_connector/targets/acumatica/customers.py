"""Customers into Acumatica: a marketplace's customer by its deterministic CustomerID (get by key,
the cheapest read); a buyer's by the key kept in AccountRef, under the first free CustomerID."""

from __future__ import annotations

from ml_connector.errors import PermanentError
from ml_connector.model.documents import CustomerDocument
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string

BUYER_ID_ATTEMPTS = 5  # CustomerID candidates tried for a buyer before a person is asked


class CustomerPoster:
    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def _is_buyer(self, document: CustomerDocument) -> bool:
        return document.buyer and document.key not in self._settings.customer_ids

    def find(self, document: CustomerDocument) -> str | None:
        if self._is_buyer(document):
            rows = self._client.list(
                "Customer",
                filter=f"AccountRef eq {odata_string(document.key)}",
                select="CustomerID,AccountRef",
                top=2,
            )
            return str(rows[0]["CustomerID"]) if rows else None
        record = self._client.get_by_keys(
            "Customer", bodies.customer_id(self._settings, document), select="CustomerID"
        )
        return None if record is None else str(record["CustomerID"])

    def find_all(self, document: CustomerDocument) -> list[str]:
        found = self.find(document)  # keyed by CustomerID: at most one
        return [] if found is None else [found]

    def post(self, document: CustomerDocument) -> str:
        if self._is_buyer(document):
            return self._post_buyer(document)
        record = self._client.put(
            "Customer", bodies.customer_body(self._settings, document), insert_only=True
        )
        return str(record["CustomerID"])

    def _post_buyer(self, document: CustomerDocument) -> str:
        """A buyer's customer under the first CustomerID candidate no other key holds (find has
        just said no customer holds this key)."""
        for attempt in range(BUYER_ID_ATTEMPTS):
            number = bodies.buyer_customer_id(document.key, attempt)
            holder = self._client.get_by_keys("Customer", number, select="CustomerID,AccountRef")
            if holder is None:
                body = bodies.customer_body(self._settings, document, number)
                return str(self._client.put("Customer", body, insert_only=True)["CustomerID"])
            if holder.get("AccountRef") == document.key:
                return number
        raise PermanentError(
            f"customer {document.key}: every CustomerID tried is held by another customer; "
            "name one in the connection's customer_ids"
        )
