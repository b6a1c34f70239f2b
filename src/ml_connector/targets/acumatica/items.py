"""Items and stock from Acumatica: SKU -> InventoryID (connector map, cross-references, SKUs that
are InventoryIDs), closest items for an unmatched SKU, price and available quantity."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ml_connector.model.money import Money
from ml_connector.model.orders import StockLevel
from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaSettings


class ItemReader:
    def __init__(self, client: AcumaticaClient, settings: AcumaticaSettings) -> None:
        self._client = client
        self._settings = settings
        self._item_map: dict[str, str] | None = None
        self._items: list[dict[str, Any]] = []

    def _load(self) -> dict[str, str]:
        """SKU -> InventoryID from the connector map, then the items' cross-references (read once,
        paged; detail collections cannot be filtered), then SKUs that are InventoryIDs."""
        if self._item_map is None:
            mapping: dict[str, str] = {}
            self._items = list(
                self._client.iterate(
                    "StockItem",
                    filter="ItemStatus eq 'Active'",
                    select="InventoryID,Description,DefaultPrice,CrossReferences/AlternateID,CrossReferences/AlternateType",
                    expand="CrossReferences",
                )
            )
            for item in self._items:
                mapping.setdefault(str(item["InventoryID"]), str(item["InventoryID"]))
            for item in self._items:
                for reference in item.get("CrossReferences") or []:
                    if reference.get(
                        "AlternateType"
                    ) in self._settings.cross_reference_types and reference.get("AlternateID"):
                        mapping[str(reference["AlternateID"])] = str(item["InventoryID"])
            mapping.update(self._settings.sku_map)
            self._item_map = mapping
        return self._item_map

    def resolve(self, skus: Sequence[str]) -> dict[str, str | None]:
        mapping = self._load()
        return {sku: mapping.get(sku) for sku in skus}

    def candidates(self, sku: str, limit: int = 3) -> list[str]:
        self._load()
        names = {str(item["InventoryID"]): str(item.get("Description") or "") for item in self._items}
        scored = sorted(
            names,
            key=lambda item_id: (
                -max(
                    difflib.SequenceMatcher(None, sku.upper(), item_id.upper()).ratio(),
                    difflib.SequenceMatcher(None, sku.upper(), names[item_id].upper()).ratio(),
                )
            ),
        )
        return scored[:limit]

    def stock_levels(self, skus: Sequence[str]) -> list[StockLevel]:
        """Price from StockItem.DefaultPrice (base currency) and quantity from the
        InventoryQuantityAvailable inquiry (22.200.001+), read once for all items. Unmapped SKUs
        are left out: ``resolve`` reports them, each on its own record."""
        resolved = {sku: item for sku, item in self.resolve(skus).items() if item}
        if not resolved:
            return []
        prices = {str(item["InventoryID"]): item.get("DefaultPrice") for item in self._items}
        rows = self._client.inquire("InventoryQuantityAvailable", {})
        available = {str(row.get("InventoryID")): row.get("QtyAvailable") for row in rows}
        levels = []
        for sku, item_id in resolved.items():
            quantity = available.get(item_id)
            price = prices.get(item_id)
            levels.append(
                StockLevel(
                    sku=sku,
                    item_id=item_id,
                    quantity=max(0, int(Decimal(str(quantity or 0)))),
                    price=Money(Decimal(str(price)), self._settings.base_currency)
                    if price is not None
                    else None,
                    warehouse=self._settings.warehouse,
                )
            )
        return levels
