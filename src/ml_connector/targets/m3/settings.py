"""Per-connection M3 configuration: company, division, facility, warehouse and the mapping choices
(template customer, order type, alias type, GLS840 layout, available-to-sell formula)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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
    customer_key_field: Literal["YREF", "YRE2"] = "YREF"  # where the customer document key is written
    available_to_sell: str = "AV01"  # a GetItmWhsBal field, or e.g. "STQT-ALQT-REQT"
    max_concurrent: int = 4  # MI calls in flight per tenant
    rate_per_second: float | None = None  # client-side pacing below the tenant's throttling
    api_version: Literal["v1", "v2"] = "v2"
