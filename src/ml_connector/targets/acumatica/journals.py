"""Settlement journals into Acumatica's GL: a JournalTransaction found by the Description that holds
the settlement reference; a batch saved but not released (a crash between the two calls) is
released by ``find``, so the protocol's query-first step finishes the job. A release Acumatica had
accepted before the crash goes on on the server: found still running, the second release is refused
as busy (TransientError) and the next find sees it posted. The AR payment of payment mode is its own
document (``payments.py``)."""

from __future__ import annotations

from decimal import Decimal

from ml_connector.model.documents import JournalDocument
from ml_connector.model.money import Money
from ml_connector.targets.acumatica import documents as bodies
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.acumatica.values import odata_string

RELEASED_JOURNAL = {"Posted", "Unposted"}


class JournalPoster:
    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings

    def _release(self, record: dict) -> None:
        self._client.invoke("JournalTransaction", "ReleaseJournalTransaction", {"id": record["id"]})

    def find(self, document: JournalDocument) -> str | None:
        condition = f"Module eq 'GL' and Description eq {odata_string(bodies.journal_description(document))}"
        rows = self._client.list("JournalTransaction", filter=condition, select="BatchNbr,Status", top=2)
        if not rows:
            return None
        batch = rows[0]
        if self._settings.release_journals and batch.get("Status") not in RELEASED_JOURNAL:
            self._release(batch)
        return str(batch["BatchNbr"])

    def find_all(self, document: JournalDocument) -> list[str]:
        description = odata_string(bodies.journal_description(document))
        rows = self._client.list(
            "JournalTransaction", filter=f"Module eq 'GL' and Description eq {description}", select="BatchNbr"
        )
        return list(dict.fromkeys(str(row["BatchNbr"]) for row in rows))

    def post(self, document: JournalDocument) -> str:
        bodies.check_journal(self._settings, document)
        record = self._client.put(
            "JournalTransaction", bodies.journal_body(self._settings, document), insert_only=True
        )
        if self._settings.release_journals:
            self._release(record)
        return str(record["BatchNbr"])

    def total(self, key: str, currency: str) -> Money | None:
        """A batch's total debit (reconcile; reads only)."""
        description = odata_string(f"{bodies.JOURNAL_PREFIX}{key}")
        rows = self._client.list(
            "JournalTransaction",
            filter=f"Module eq 'GL' and Description eq {description}",
            select="BatchNbr,CurrencyID,Details/DebitAmount",
            expand="Details",
            top=1,
        )
        if not rows:
            return None
        debit = sum(
            (Decimal(str(d.get("DebitAmount") or 0)) for d in rows[0].get("Details") or ()), Decimal(0)
        )
        return Money(debit, rows[0].get("CurrencyID") or currency)
