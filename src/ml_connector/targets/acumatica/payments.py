"""Invoice mode with ``invoice_settlement = 'payment'``: one AR Payment per settlement (PaymentRef =
the settlement key; found first), from the clearing cash account, applied to each order's invoice,
so the receivable is cleared in AR, never by a GL line on the AR control account."""

from __future__ import annotations

from decimal import Decimal

from ml_connector.errors import PermanentError
from ml_connector.model.documents import JournalDocument
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string


def clearing_applications(settings: AcumaticaSettings, document: JournalDocument) -> dict[str, Decimal]:
    """Amazon order id -> amount the settlement collected for it (net credit on the clearing
    account), from the clearing lines that name an order."""
    account = settings.clearing_account
    result: dict[str, Decimal] = {}
    for line in document.journal.lines:
        if account and line.account == account and line.reference:
            result[line.reference] = (
                result.get(line.reference, Decimal(0)) + (line.credit - line.debit).amount
            )
    return {order: amount for order, amount in result.items() if amount > 0}


class PaymentPoster:
    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def wanted(self, document: JournalDocument) -> bool:
        """This settlement journal asks for a payment (payment mode, orders to apply it to)."""
        return self._settings.invoice_settlement == "payment" and bool(
            clearing_applications(self._settings, document)
        )

    def ensure(self, document: JournalDocument) -> str:
        """The settlement's payment: found by its PaymentRef, else created and applied."""
        if not self._settings.payment_cash_account:
            raise PermanentError(
                "invoice_settlement = 'payment' needs payment_cash_account (a cash account over the clearing account)"
            )
        reference = document.key[:40]
        found = self._client.list(
            "Payment",
            filter=f"Type eq 'Payment' and PaymentRef eq {odata_string(reference)}",
            select="ReferenceNbr",
            top=1,
        )
        if found:
            return str(found[0]["ReferenceNbr"])
        applications = []
        customer = None
        for order, amount in clearing_applications(self._settings, document).items():
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
                {"DocType": "Invoice", "ReferenceNbr": invoices[0]["ReferenceNbr"], "AmountPaid": amount}
            )
        total = sum((row["AmountPaid"] for row in applications), Decimal(0))
        record = self._client.put(
            "Payment",
            {
                "Type": "Payment",
                "CustomerID": customer,
                "PaymentMethod": self._settings.payment_method,
                "CashAccount": self._settings.payment_cash_account,
                "PaymentRef": reference,
                "PaymentAmount": total,
                "ApplicationDate": document.journal.posting_date,
                "Description": bodies.journal_description(document),
                "Hold": False,
                "DocumentsToApply": applications,
            },
            insert_only=True,
        )
        return str(record["ReferenceNbr"])
