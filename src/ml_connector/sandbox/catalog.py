"""The sandbox world: one seller's catalogue, shared by the SP-API, M3 and Acumatica sandboxes.

Every sandbox draws from this one module so that the data is internally consistent: the SKUs Amazon
sells are the items the ERPs stock (through an M3 alias or an Acumatica cross-reference), the prices
agree, and a few SKUs are deliberately left unmapped so the items flow has something to report.
Everything derives from a seed; the same seed gives the same world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cache


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    country_code: str
    name: str  # as the settlement report's marketplace-name column writes it
    currency: str
    locale: str  # the locale Amazon writes the flat file V2 in
    region: str  # na | eu | fe
    price_factor: Decimal  # price in this currency per USD of list price


MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in (
        Marketplace("ATVPDKIKX0DER", "US", "Amazon.com", "USD", "en_US", "na", Decimal("1")),
        Marketplace("A2EUQ1WTGCTBG2", "CA", "Amazon.ca", "CAD", "en_CA", "na", Decimal("1.35")),
        Marketplace("A1F83G8C2ARO7P", "GB", "Amazon.co.uk", "GBP", "en_GB", "eu", Decimal("0.80")),
        Marketplace("A1PA6795UKMFR9", "DE", "Amazon.de", "EUR", "de_DE", "eu", Decimal("0.92")),
    )
}

_FAMILIES = (
    ("MUG", "Ceramic mug", Decimal("14.99")),
    ("TEE", "Cotton t-shirt", Decimal("19.99")),
    ("BTL", "Steel water bottle", Decimal("24.50")),
    ("LMP", "Desk lamp", Decimal("39.00")),
    ("BAG", "Canvas tote bag", Decimal("17.25")),
    ("PEN", "Fountain pen", Decimal("29.95")),
    ("NTB", "Dot-grid notebook", Decimal("11.40")),
    ("CUP", "Travel cup", Decimal("16.80")),
)


@dataclass(frozen=True)
class Product:
    sku: str
    asin: str
    title: str
    list_price_usd: Decimal
    m3_item: str | None  # ITNO; None = no ERP item (an unmapped SKU for the items flow)
    acumatica_item: str | None  # InventoryID; None = unmapped
    weight_kg: Decimal
    on_hand: int  # ERP stock in the main warehouse

    def price(self, marketplace_id: str) -> Decimal:
        factor = MARKETPLACES[marketplace_id].price_factor
        return (self.list_price_usd * factor).quantize(Decimal("0.01"))


@cache
def products(seed: int = 7, count: int = 40) -> tuple[Product, ...]:
    """The catalogue. Two SKUs are longer than M3's 30-character alias field (they need the
    connector-side map) and two have no ERP item at all."""
    rng = random.Random(seed)
    result = []
    for index in range(count):
        code, title, base = _FAMILIES[index % len(_FAMILIES)]
        variant = index // len(_FAMILIES) + 1
        sku = f"MLC-{code}-{variant:02d}{'ABCDE'[index % 5]}"
        if index in (5, 17):
            sku = f"MLC-{code}-LIMITED-EDITION-GIFTSET-{variant:03d}"  # > 30 characters
        asin = "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))
        price = (base + Decimal(variant) - Decimal("1")).quantize(Decimal("0.01"))
        unmapped = index in (11, 29)
        result.append(
            Product(
                sku=sku,
                asin=asin,
                title=f"{title} {variant}",
                list_price_usd=price,
                m3_item=None if unmapped else f"A{10000 + index}",
                acumatica_item=None if unmapped else f"AMZ{code}{index:03d}",
                weight_kg=Decimal(rng.randint(100, 2500)) / 1000,
                on_hand=rng.randint(0, 400),
            )
        )
    return tuple(result)


def product_by_sku(sku: str, seed: int = 7) -> Product | None:
    return next((p for p in products(seed) if p.sku == sku), None)
