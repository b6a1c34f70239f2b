"""SKU to M3 item (MMS025MI alias, or the connector-side map for SKUs longer than the alias field),
checked against MMS200MI; closest items for an unmatched SKU; available-to-sell per warehouse."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from ml_connector.errors import ConfigurationError
from ml_connector.model.orders import StockLevel
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.settings import M3Settings

UNSELLABLE_ITEM_STATUS = frozenset({"80", "90"})  # expired, blocked
_TERM = re.compile(r"\s*([+-]?)\s*([A-Z0-9]{4})\s*")


def parse_formula(formula: str) -> list[tuple[int, str]]:
    """'AV01' or 'STQT-ALQT-REQT' -> [(sign, field)], validated once."""
    terms, position = [], 0
    while position < len(formula):
        match = _TERM.match(formula, position)
        if not match or match.end() == position:
            raise ConfigurationError(
                f"available_to_sell: cannot read {formula!r} (use GetItmWhsBal fields joined by + and -)"
            )
        terms.append((-1 if match.group(1) == "-" else 1, match.group(2)))
        position = match.end()
    if not terms:
        raise ConfigurationError("available_to_sell is empty")
    return terms


class ItemReader:
    def __init__(self, mi: MiClient, settings: M3Settings) -> None:
        self._mi = mi
        self._settings = settings
        self._formula = parse_formula(settings.available_to_sell)

    def resolve(self, skus: Sequence[str]) -> dict[str, str | None]:
        settings = self._settings
        result: dict[str, str | None] = {}
        by_alias = []
        for sku in dict.fromkeys(skus):
            if sku in settings.sku_map:
                result[sku] = settings.sku_map[sku]
            elif len(sku) > settings.alias_field_length:
                result[sku] = None  # cannot be an alias: only sku_map can map it
            else:
                by_alias.append(sku)
        lookups = self._mi.bulk(
            "MMS025MI",
            [
                (
                    "GetItem",
                    {
                        "CONO": settings.company,
                        "ALWT": settings.alias_type,
                        "POPN": sku,
                        "ALWQ": settings.alias_qualifier,
                    },
                )
                for sku in by_alias
            ],
        )
        for sku, found in zip(by_alias, lookups, strict=True):
            result[sku] = (
                found.records[0].get("ITNO") or None if found.error is None and found.records else None
            )
        items = sorted({item for item in result.values() if item})
        checks = self._mi.bulk("MMS200MI", [("Get", {"ITNO": item}) for item in items])
        valid = {
            item
            for item, check in zip(items, checks, strict=True)
            if check.error is None
            and check.records
            and check.records[0].get("STAT", "") not in UNSELLABLE_ITEM_STATUS
        }
        return {sku: (item if item in valid else None) for sku, item in result.items()}

    def candidates(self, sku: str, limit: int = 3) -> list[str]:
        settings = self._settings
        aliases = self._mi.call(
            "MMS025MI",
            "LstAliasViaCat",
            {"CONO": settings.company, "ALWT": settings.alias_type, "ALWQ": settings.alias_qualifier},
            maxrecs=0,
        )
        items = self._mi.call("MMS200MI", "LstItmByItm", {"CONO": settings.company, "ITNO": "0"}, maxrecs=0)
        scores: dict[str, float] = {}
        target = sku.upper()

        def score(item: str, text: str) -> None:
            if item and text:
                ratio = difflib.SequenceMatcher(None, target, text.upper()).ratio()
                scores[item] = max(scores.get(item, 0.0), ratio)

        for row in aliases:
            score(row.get("ITNO", ""), row.get("POPN", ""))
        for row in items:
            if row.get("STAT", "") in UNSELLABLE_ITEM_STATUS:
                continue
            score(row.get("ITNO", ""), row.get("ITNO", ""))
            score(row.get("ITNO", ""), row.get("ITDS", ""))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return [item for item, ratio in ranked if ratio >= 0.3][:limit]

    def stock(self, skus: Sequence[str]) -> list[StockLevel]:
        warehouse = self._settings.warehouse
        if not warehouse:
            raise ConfigurationError("M3 warehouse is not set: name the WHLO that stocks the Amazon items")
        mapped = [(sku, item) for sku, item in self.resolve(skus).items() if item]
        balances = self._mi.bulk(
            "MMS200MI",
            [
                ("GetItmWhsBal", {"CONO": self._settings.company, "WHLO": warehouse, "ITNO": item})
                for _, item in mapped
            ],
        )
        levels = []
        for (sku, item), balance in zip(mapped, balances, strict=True):
            quantity = 0  # an item not set up in the warehouse cannot be sold from it
            if balance.error is None and balance.records:
                quantity = self._available(balance.records[0])
            levels.append(StockLevel(sku=sku, item_id=item, quantity=quantity, warehouse=warehouse))
        return levels

    def _available(self, record: dict[str, str]) -> int:
        total = Decimal(0)
        for sign, name in self._formula:
            try:
                total += sign * Decimal(record.get(name) or "0")
            except InvalidOperation:
                raise ConfigurationError(
                    f"available_to_sell: GetItmWhsBal field {name} is not a quantity"
                ) from None
        return max(0, int(total))
