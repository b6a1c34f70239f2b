"""The Amazon side: Login with Amazon, regions and marketplaces, the rate-limited SP-API client and
the mapping of its payloads into the canonical model.

Other code should need only ``SpApiClient`` and ``LwaCredentials`` (plus ``price_patch`` /
``quantity_patch`` for listings).
"""

from ml_connector.sources.amazon.auth import LwaAuth, LwaCredentials
from ml_connector.sources.amazon.client import (
    JSON_LISTINGS_FEED,
    SETTLEMENT_V2,
    SpApiClient,
    price_patch,
    quantity_patch,
)
from ml_connector.sources.amazon.regions import MARKETPLACES, REGIONS, marketplace

__all__ = [
    "JSON_LISTINGS_FEED",
    "MARKETPLACES",
    "REGIONS",
    "SETTLEMENT_V2",
    "LwaAuth",
    "LwaCredentials",
    "SpApiClient",
    "marketplace",
    "price_patch",
    "quantity_patch",
]
