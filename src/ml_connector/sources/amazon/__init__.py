"""The Amazon side: Login with Amazon, regions and marketplaces, the rate-limited SP-API client (its
operations one module per API family in ``api/``) and the mapping of its payloads into the
canonical model.

Other code should need only ``SpApiClient`` and ``LwaCredentials`` (plus ``price_patch`` /
``quantity_patch`` for listings).
"""

from ml_connector.sources.amazon.api.feeds import JSON_LISTINGS_FEED
from ml_connector.sources.amazon.api.listings import price_patch, quantity_patch
from ml_connector.sources.amazon.api.reports import SETTLEMENT_V2
from ml_connector.sources.amazon.auth import LwaAuth, LwaCredentials
from ml_connector.sources.amazon.client import SpApiClient
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
