"""AR payments into Acumatica (invoice mode, ``invoice_settlement = 'payment'``): one Payment per
settlement journal (PaymentRef = its key; found first), from the clearing cash account, applied to
each order's invoice, so the receivable is cleared in AR, never by a GL line on the AR control
account. The amounts are the document's (decided by the settlements flow); this only writes them."""

from __future__ import annotations

from ml_connector.errors import PermanentError
from ml_connector.model.documents import PaymentDocument
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string

PAYMENT_REF_LENGTH = 40


class PaymentPoster:
    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def _condition(self, document: PaymentDocument) -> str:
        return f"Type eq 'Payment' and PaymentRef eq {odata_string(document.key[:PAYMENT_REF_LENGTH])}"

    def find(self, document: PaymentDocument) -> str | None:
        found = self._client.list("Payment", filter=self._condition(document), select="ReferenceNbr", top=1)
        return str(found[0]["ReferenceNbr"]) if found else None

    def find_all(self, document: PaymentDocument) -> list[str]:
        rows = self._client.list("Payment", filter=self._condition(document), select="ReferenceNbr")
        return list(dict.fromkeys(str(row["ReferenceNbr"]) for row in rows))

    def post(self, document: PaymentDocument) -> str:
        if not self._settings.payment_cash_account:
            raise PermanentError(
                "invoice_settlement = 'payment' needs payment_cash_account (a cash account over the clearing account)"
            )
        if not document.applications:
            raise PermanentError(f"payment {document.key} applies nothing: no order invoice to pay")
        applications = []
        customer = None
        for order, amount in document.applications:
            invoices = self._client.list(
                "SalesInvoice",
                filter=f"Type eq 'Invoice' and CustomerOrder eq {odata_string(order)}",
                select="ReferenceNbr,CustomerID",
                top=1,
            )
            if not invoices:
                raise PermanentError(
                    f"settlement {document.key}: no Acumatica invoice for order {order} to apply the payment to"
                )
            customer = customer or invoices[0]["CustomerID"]
            applications.append(
                {
                    "DocType": "Invoice",
                    "ReferenceNbr": invoices[0]["ReferenceNbr"],
                    "AmountPaid": amount.amount,
                }
            )
        record = self._client.put(
            "Payment",
            {
                "Type": "Payment",
                "CustomerID": customer,
                "PaymentMethod": self._settings.payment_method,
                "CashAccount": self._settings.payment_cash_account,
                "PaymentRef": document.key[:PAYMENT_REF_LENGTH],
                "PaymentAmount": document.total.amount,
                "ApplicationDate": document.posting_date,
                "Description": f"{bodies.JOURNAL_PREFIX}{document.key}",
                "Hold": False,
                "DocumentsToApply": applications,
            },
            insert_only=True,
        )
        return str(record["ReferenceNbr"])
