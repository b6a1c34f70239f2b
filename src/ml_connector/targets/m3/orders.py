"""Amazon orders as M3 customer orders through OIS100MI batch entry.

The Amazon order id goes into CUOR (A20). An order is found by that CUOR among the customer's batch
orders (which give the final order number once confirmed) and its customer orders. A batch order
left unconfirmed by an interrupted run or a failed confirmation is deleted before the order is
entered again, so there is never more than one order per Amazon order id.
"""

from __future__ import annotations

import logging

from ml_connector.errors import ConfigurationError, PermanentError
from ml_connector.model.documents import SalesDocument
from ml_connector.targets.m3.customers import fit
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.responses import MiError
from ml_connector.targets.m3.settings import M3Settings

log = logging.getLogger(__name__)

CUOR_LENGTH = 20


def _fields(record: dict[str, str]) -> list[str]:
    """One EXPORTMI row: the REPL field, split at the separator we asked for."""
    return [part.strip() for part in record.get("REPL", "").split(";")]


class OrderPoster:
    def __init__(self, mi: MiClient, settings: M3Settings) -> None:
        self._mi = mi
        self._settings = settings
        self._seen_batches: dict[str, list[dict[str, str]]] = {}  # key -> batch heads find() just read
        self._exportmi_refused = False

    def _batch_heads(self, customer: str) -> list[dict[str, str]]:
        return self._mi.call(
            "OIS100MI",
            "LstBatchHead",
            {"CONO": self._settings.company, "CUNO": customer},
            maxrecs=0,
            returncols=("ORNO", "CUOR", "ORNR"),
        )

    def _by_key(self, key: str) -> tuple[list[dict[str, str]], list[dict[str, str]]] | None:
        """(batch heads, order heads) holding CUOR = key, read by key through EXPORTMI: two selects in
        one request, whatever the number of orders in M3. None where the tenant does not allow it."""
        if self._settings.order_lookup != "exportmi" or self._exportmi_refused:
            return None
        quoted = key.replace("'", "''")
        selects = [
            (
                "Select",
                {"QERY": f"OAORNO, OACUOR, OAORNR from OXHEAD where OACUOR = '{quoted}'", "SEPC": ";"},
            ),
            ("Select", {"QERY": f"OAORNO, OACUOR from OOHEAD where OACUOR = '{quoted}'", "SEPC": ";"}),
        ]
        batch, heads = self._mi.bulk("EXPORTMI", selects)
        for result in (batch, heads):
            if result.error is not None:
                if "not allowed" in result.error.target_message.lower():
                    self._exportmi_refused = True
                    log.warning(
                        "M3 does not allow EXPORTMI for this user: orders are found by listing the "
                        "customer's orders (slower as M3 fills; allow EXPORTMI on OOHEAD and OXHEAD)"
                    )
                    return None
                result.raise_for_error()
        return (
            [dict(zip(("ORNO", "CUOR", "ORNR"), _fields(r), strict=False)) for r in batch.records],
            [dict(zip(("ORNO", "CUOR"), _fields(r), strict=False)) for r in heads.records],
        )

    def find(self, document: SalesDocument) -> str | None:
        found = self._by_key(document.key)
        if found is None:  # the listing: every order of the customer, only the columns we read
            batch_rows = self._batch_heads(document.customer_id)
            head_rows = None
        else:
            batch_rows, head_rows = found
        batch = [row for row in batch_rows if row.get("CUOR") == document.key]
        for row in batch:
            if row.get("ORNR"):
                return row["ORNR"]
        self._seen_batches = {document.key: batch}  # post() right after find() need not list again
        if head_rows is None:
            head_rows = self._mi.call(
                "OIS100MI",
                "LstHead",
                {"CONO": self._settings.company, "CUNO": document.customer_id},
                maxrecs=0,
                returncols=("ORNO", "CUOR"),
            )
        for row in head_rows:
            if row.get("CUOR") == document.key:
                return row["ORNO"]
        return None

    def find_all(self, document: SalesDocument) -> list[str]:
        """Every confirmed order carrying the Amazon order id (batch orders by ORNR, orders by ORNO)."""
        numbers = [
            row["ORNR"]
            for row in self._batch_heads(document.customer_id)
            if row.get("CUOR") == document.key and row.get("ORNR")
        ]
        heads = self._mi.call(
            "OIS100MI", "LstHead", {"CONO": self._settings.company, "CUNO": document.customer_id}, maxrecs=0
        )
        numbers += [row["ORNO"] for row in heads if row.get("CUOR") == document.key and row.get("ORNO")]
        return list(dict.fromkeys(numbers))

    def post(self, document: SalesDocument) -> str:
        if document.kind not in ("sales_order", "sales_invoice"):  # M3 invoices the order it delivers
            raise ConfigurationError(
                f"the M3 target enters sales orders; {document.kind} documents are not supported"
            )
        self._validate(document)
        company = self._settings.company
        seen = self._seen_batches.pop(document.key, None)
        if seen is None:
            found = self._by_key(document.key)
            seen = found[0] if found is not None else self._batch_heads(document.customer_id)
        batch = seen
        for row in batch:  # leftovers of an interrupted or refused entry
            if row.get("CUOR") == document.key and not row.get("ORNR"):
                self._mi.call("OIS100MI", "DelBatchHead", {"CONO": company, "ORNO": row["ORNO"]})
        warehouse = document.warehouse or self._settings.warehouse
        head = self._mi.call(
            "OIS100MI",
            "AddBatchHead",
            {
                "CONO": company,
                "CUNO": document.customer_id,
                "ORTP": self._settings.order_type,
                "FACI": self._settings.facility,
                "WHLO": warehouse,
                "CUOR": document.key,
                "ORDT": document.order_date.strftime("%Y%m%d"),
                "CUCD": document.currency,
                "YREF": fit(document.marketplace_id, 30),
            },
        )
        temporary = head[0].get("ORNO", "") if head else ""
        if not temporary:
            raise PermanentError(f"OIS100MI.AddBatchHead returned no order number for {document.key}")
        calls = []
        if document.ship_to is not None:
            to = document.ship_to
            calls_address = {
                "CONO": company,
                "ORNO": temporary,
                "ADRT": self._settings.delivery_address_type,
                "CUNM": fit(to.name, 36),
                "CUA1": fit(to.line1, 36),
                "CUA2": fit(to.line2, 36),
                "TOWN": fit(to.city, 20),
                "PONO": fit(to.postal_code, 10),
                "CSCD": fit(to.country_code, 3),
                "PHNO": fit(to.phone, 16),
                "ECAR": fit(to.state_or_region, 2)
                if to.state_or_region and len(to.state_or_region) <= 2
                else "",
            }
            calls.append(("AddBatchAddress", calls_address))
        for line in document.lines:
            calls.append(
                (
                    "AddBatchLine",
                    {
                        "CONO": company,
                        "ORNO": temporary,
                        "ITNO": line.item_id,
                        "ORQT": str(line.quantity),
                        "SAPR": line.unit_price.as_string(),
                        "WHLO": warehouse,
                        "CUOR": fit(line.order_item_id, CUOR_LENGTH),
                    },
                )
            )
        results = self._mi.bulk("OIS100MI", calls)  # the address and every line in one request
        if document.ship_to is not None:
            address, results = results[0], results[1:]
            if address.error is not None:
                raise PermanentError(
                    f"order {document.key}: ship-to address refused by M3: {address.error.target_message}",
                    target_message=address.error.target_message,
                    field=address.error.field,
                )
        for line, result in zip(document.lines, results, strict=True):
            if result.error is not None:
                raise PermanentError(
                    f"order {document.key}: SKU {line.sku} (item {line.item_id}) refused by M3: {result.error.target_message}",
                    target_message=result.error.target_message,
                    field=result.error.field,
                )
        try:
            confirmed = self._mi.call("OIS100MI", "Confirm", {"CONO": company, "ORNO": temporary})
        except MiError as exc:
            raise PermanentError(
                f"order {document.key} was not confirmed: {self._why_not_confirmed(temporary) or exc.target_message}",
                target_message=exc.target_message,
            ) from None
        number = confirmed[0].get("ORNO", "") if confirmed else ""
        if not number or number == temporary:
            number = self._mi.call("OIS100MI", "GetOrderNo", {"CONO": company, "ORNO": temporary})[0].get(
                "ORNR", ""
            )
        if not number:
            raise PermanentError(
                f"order {document.key} was not confirmed: {self._why_not_confirmed(temporary) or 'no order number'}"
            )
        return number

    def _why_not_confirmed(self, temporary: str) -> str:
        """M3's own reasons, as LstErrMsgOrder lists them (what OIS275 would show a user)."""
        rows = self._mi.call(
            "OIS100MI", "LstErrMsgOrder", {"CONO": self._settings.company, "ORNO": temporary}, maxrecs=0
        )
        return "; ".join(f"{r.get('MSID', '')} {r.get('TX60', '')}".strip() for r in rows)

    @staticmethod
    def _validate(document: SalesDocument) -> None:
        if len(document.key) > CUOR_LENGTH:
            raise PermanentError(f"order key {document.key!r} does not fit M3's 20-character CUOR")
        if not document.customer_id:
            raise PermanentError(f"order {document.key}: no M3 customer number")
        if not document.lines:
            raise PermanentError(f"order {document.key} has no lines")
        for line in document.lines:
            if not line.item_id:
                raise PermanentError(f"order {document.key}: SKU {line.sku} has no M3 item")
            if line.unit_price.currency != document.currency:
                raise PermanentError(
                    f"order {document.key}: SKU {line.sku} priced in {line.unit_price.currency}, order in {document.currency}"
                )
            if line.quantity <= 0:
                raise PermanentError(f"order {document.key}: SKU {line.sku} has quantity {line.quantity}")
