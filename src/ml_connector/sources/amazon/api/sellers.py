"""Sellers v1: the marketplaces the seller participates in (also the credentials check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sources.amazon.api.common import get_json
from ml_connector.sources.amazon.resources import MarketplaceParticipation

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient


def get_marketplace_participations(client: SpApiClient) -> list[MarketplaceParticipation]:
    """Also the credentials check: it needs a valid token and no particular role."""
    data = get_json(client, "getMarketplaceParticipations", "/sellers/v1/marketplaceParticipations")
    return [
        MarketplaceParticipation(
            marketplace_id=p["marketplace"]["id"],
            country_code=p["marketplace"]["countryCode"],
            currency=p["marketplace"]["defaultCurrencyCode"],
            name=p["marketplace"]["name"],
            participating=bool(p["participation"]["isParticipating"]),
        )
        for p in data.get("payload") or ()
    ]
