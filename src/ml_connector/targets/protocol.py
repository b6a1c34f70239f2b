"""The ERP protocol: everything a flow may ask of an ERP.

Writes go only through the engine's posting protocol, which needs exactly two things of a target:
``find(document)`` (is there already an ERP record carrying this document's key?) and
``post(document)`` (create it). Both return the ERP's id for the record. Reads (items, stock,
shipments) are plain methods. Adapters never decide accounting: they receive finished documents.

Errors: raise ``errors.TransientError`` for what a retry may fix and ``errors.PermanentError``
(with the ERP's own message) for what it cannot; the engine records either on the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from ml_connector.model.documents import Document
from ml_connector.model.money import Money
from ml_connector.model.orders import ShipmentConfirmation, StockLevel


class Postable(Protocol):
    """What the engine needs of a document: its record kind and its Amazon key."""

    @property
    def kind(self) -> str: ...

    @property
    def key(self) -> str: ...


D_contra = TypeVar("D_contra", bound=Postable, contravariant=True)


@runtime_checkable
class PostingTarget(Protocol[D_contra]):
    """The minimum the engine's posting protocol needs, for the documents of type ``D_contra``
    (an ERP's accounting documents, a listing update, a shipment confirmation, ...)."""

    def find(self, document: D_contra) -> str | None: ...

    def post(self, document: D_contra) -> str: ...

    # Optional: ``find_all(document) -> list[str]``, every ERP record holding the key. The engine
    # asks it after a takeover and whenever a settle finds the claim lost, to name duplicates; a
    # target without it is asked ``find`` (at most one id). Every ERP adapter implements it.


@runtime_checkable
class ErpTarget(PostingTarget[Document], Protocol):
    """A whole ERP as flows see it."""

    name: str

    def resolve_items(self, skus: Sequence[str]) -> dict[str, str | None]:
        """SKU -> ERP item id, None where the ERP knows no item for the SKU."""
        ...

    def item_candidates(self, sku: str, limit: int = 3) -> list[str]:
        """The ERP items closest to an unmatched SKU, best first (for the items report)."""
        ...

    def stock_levels(self, skus: Sequence[str]) -> list[StockLevel]:
        """Available-to-sell quantity (and price where the ERP holds one) per mapped SKU."""
        ...

    def shipped_orders(self, since: datetime) -> Iterable[ShipmentConfirmation]:
        """Seller-fulfilled Amazon orders shipped in the ERP since the given time."""
        ...

    def document_total(self, kind: str, key: str, currency: str) -> Money | None:
        """Reconcile: the ERP's total of the posted document carrying ``key`` ("sales_invoice": the
        invoice amount; "journal": the batch's total debit), in ``currency`` unless the ERP says
        otherwise; None when the ERP has no such document. Raises NotImplementedError for a kind
        the adapter cannot read back (reconcile then relies on the recorded ERP ids)."""
        ...

    def check(self) -> list[str]:
        """Credentials and reachability: an empty list when fine, else what is wrong and the fix."""
        ...

    def check_accounts(
        self, accounts: Iterable[str], dimensions: Iterable[tuple[str, str]] = ()
    ) -> list[str]:
        """Every GL account (and the dimension values, ``(name, value)``, the adapter sends) a
        journal will post to, against the ERP's chart, read once per adapter life (i.e. per run):
        one problem per account or value that is missing, closed or not postable by hand (a
        control account); an empty list when all can be posted to."""
        ...

    def close(self) -> None:
        """Release sessions and tokens (Acumatica sign-out, ION token revocation)."""
        ...
