"""Per-connection M3 configuration: company, division, facility, warehouse and the mapping choices
(template customer, order type, alias type, GLS840 layout, available-to-sell formula)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ml_connector.errors import ConfigurationError
from ml_connector.targets.m3.gls840 import DOCUMENTED_LAYOUT, ParmLayout


@dataclass(frozen=True)
class M3Settings:
    company: str = "100"  # CONO
    division: str = ""  # DIVI (blank = the service user's default)
    facility: str = ""  # FACI for sales orders
    warehouse: str = ""  # WHLO for orders and stock
    customer_template: str = ""  # CUTM: new customers are copied from it
    order_type: str = ""  # ORTP of Amazon sales orders
    delivery_address_type: str = "1"  # ADRT of the ship-to on the batch order
    alias_type: int = 3  # ALWT of the SKU alias (3 = external database)
    alias_qualifier: str = "AMZS"  # ALWQ of the SKU alias
    alias_field_length: int = 30  # POPN: longer SKUs need sku_map
    sku_map: Mapping[str, str] = field(default_factory=dict)  # SKU -> ITNO, checked before aliases
    gls840_interface: str = "GLUPLOAD"  # INTN set up for GL journals in the tenant
    gls840_layout: ParmLayout = DOCUMENTED_LAYOUT
    gls840_key_prefix: str = "ML"
    dimension_fields: Mapping[str, str] = field(default_factory=dict)  # journal dimension -> AIT2..AIT7
    journal_find_window_days: int = 0  # widen the GLS200MI search around the posting date
    journal_lookup_days: int = 120  # reconcile: how far back to look for a journal not seen this run
    customer_key_field: Literal["YREF", "YRE2"] = "YREF"  # where the customer document key is written
    order_lookup: Literal["exportmi", "listing"] = "exportmi"  # exportmi: by CUOR; listing: no EXPORTMI
    order_customers: tuple[str, ...] = ()  # CUNOs whose orders shipments are read from (default: keyed ones)
    available_to_sell: str = "AV01"  # a GetItmWhsBal field, or e.g. "STQT-ALQT-REQT"
    max_concurrent: int = 4  # MI calls in flight per tenant
    rate_per_second: float | None = None  # client-side pacing below the tenant's throttling
    api_version: Literal["v1", "v2"] = "v2"
    chart_accounts: tuple[str, ...] = ()  # the GL accounts, where the tenant does not allow EXPORTMI
    exchange_rate_type: int = 1  # CRTP of the rates a converted payout is booked at (CCURRA)

    def __post_init__(self) -> None:
        """Accept what a TOML table or the store hands over (numbers, plain tables) and fail early,
        naming the setting, on what cannot work."""
        if isinstance(self.gls840_layout, Mapping):
            object.__setattr__(self, "gls840_layout", ParmLayout.from_config(self.gls840_layout))
        object.__setattr__(self, "company", str(self.company))
        object.__setattr__(self, "order_customers", tuple(str(c) for c in self.order_customers))
        object.__setattr__(self, "chart_accounts", tuple(str(c) for c in self.chart_accounts))
        object.__setattr__(self, "sku_map", {str(k): str(v) for k, v in dict(self.sku_map).items()})
        try:
            object.__setattr__(self, "alias_type", int(self.alias_type))
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"M3 alias_type must be a number (MMS025 alias category), not {self.alias_type!r}"
            ) from None
        if self.customer_key_field not in ("YREF", "YRE2"):
            raise ConfigurationError("M3 customer_key_field must be YREF or YRE2")
        if self.order_lookup not in ("exportmi", "listing"):
            raise ConfigurationError('M3 order_lookup must be "exportmi" or "listing"')
        if self.api_version not in ("v1", "v2"):
            raise ConfigurationError("M3 api_version must be v1 or v2")
        if self.max_concurrent < 1:
            raise ConfigurationError("M3 max_concurrent must be at least 1")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> M3Settings:
        """From stored settings or a TOML table; unknown keys (tenant, ion_url ...) are ignored."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known and v not in ("", None)})  # type: ignore[arg-type]
