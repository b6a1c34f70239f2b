"""What an Acumatica connection needs to know: instance, endpoint version, and the choices the
adapter must not guess (customer ids, AR control accounts, how settlements clear invoices)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ml_connector.transport.urls import require_secure_url

InvoiceSettlement = Literal["clearing", "payment"]


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@dataclass(frozen=True)
class AcumaticaSettings:
    """Non-secret settings of one Acumatica connection.

    ``invoice_settlement`` decides how a settlement clears the receivable that the order invoices
    created (invoice mode): ``"clearing"`` posts the journal to a non-control clearing account and
    nothing else; ``"payment"`` also creates an AR Payment from ``payment_cash_account`` (a cash
    account over the clearing GL account), applied to the invoices named by the clearing lines'
    references. Either way no journal line may hit an account in ``ar_control_accounts``.
    """

    url: str  # the instance root, with its virtual directory if any
    tenant: str
    endpoint_version: str = "24.200.001"
    endpoint_name: str = "Default"
    auth: Literal["oauth", "cookie"] = "oauth"
    branch: str = "MAIN"
    base_currency: str = "USD"
    customer_class: str = "AMAZON"
    customer_ids: Mapping[str, str] = field(default_factory=dict)  # document key -> CustomerID
    customer_prefix: str = "AMZ-"
    ar_control_accounts: frozenset[str] = frozenset()
    invoice_settlement: InvoiceSettlement = "clearing"
    clearing_account: str | None = None
    payment_cash_account: str | None = None
    payment_method: str = "AMAZON"
    default_subaccount: str = "000000"
    sku_map: Mapping[str, str] = field(default_factory=dict)  # connector-side SKU -> InventoryID
    cross_reference_types: tuple[str, ...] = ("Global", "Customer Part Number")
    warehouse: str | None = None
    release_journals: bool = True
    release_invoices: bool = False
    page_size: int = 100
    oauth_scope: str = "api offline_access"
    renew_margin_seconds: float = 120.0
    release_poll_seconds: float = 1.0
    release_timeout_seconds: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", require_secure_url(self.url, "the Acumatica site url").rstrip("/"))
        object.__setattr__(self, "ar_control_accounts", frozenset(self.ar_control_accounts))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AcumaticaSettings:
        """From a connection's stored settings or the TOML's ``[connections.acumatica]`` table:
        known keys only, empty strings meaning "use the default"."""
        known = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in values.items() if k in known and v not in ("", None)}
        for name in ("ar_control_accounts",):
            if name in chosen:
                chosen[name] = frozenset(chosen[name])
        if "cross_reference_types" in chosen:
            chosen["cross_reference_types"] = tuple(chosen["cross_reference_types"])
        return cls(**chosen)

    @property
    def endpoint_base(self) -> str:
        return f"{self.url}/entity/{self.endpoint_name}/{self.endpoint_version}"

    @property
    def has_external_ref(self) -> bool:
        """SalesInvoice.ExternalRef exists from Default 24.200.001 on."""
        return version_tuple(self.endpoint_version) >= (24, 200, 1)

    @property
    def stock_item_modified_field(self) -> str:
        """StockItem's last-modified field: LastModifiedDateTime from 24.200.001, LastModified before."""
        return "LastModifiedDateTime" if self.has_external_ref else "LastModified"


@dataclass(frozen=True)
class AcumaticaCredentials:
    """Secrets: never printed. ``client_id`` has the form GUID@TenantLoginName (OAuth only)."""

    username: str
    password: str = field(repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> AcumaticaCredentials:
        """From the vault's ``acumatica`` secrets (client_id, client_secret, username, password)."""
        return cls(
            username=str(secrets.get("username") or ""),
            password=str(secrets.get("password") or ""),
            client_id=secrets.get("client_id") or None,
            client_secret=secrets.get("client_secret") or None,
        )

    def __repr__(self) -> str:  # the dataclass repr would still show the field names; keep it minimal
        return f"AcumaticaCredentials(username={self.username!r}, client_id={self.client_id!r})"
