"""What every SP-API family shares: a GET through the client's transport, Amazon's time and
identifier spellings, the two-minute rule, and presigned document URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ml_connector.sources.amazon.regions import MARKETPLACES
from ml_connector.sources.amazon.transport import parse_json

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

BEFORE_NOW = timedelta(minutes=2)  # *Before parameters must be at least two minutes in the past


def get_json(client: SpApiClient, operation: str, path: str, params: dict | None = None, **kw: Any) -> Any:
    return parse_json(client.transport.call(operation, "GET", path, params=params, **kw))


def latest_before(client: SpApiClient, before: datetime | None) -> datetime:
    """``before``, clamped to what Amazon accepts as a *Before parameter (two minutes ago)."""
    latest = client.clock.now() - BEFORE_NOW - timedelta(seconds=5)
    chosen = min(before, latest) if before else latest
    return chosen.replace(microsecond=0)  # as sent: whole seconds


def fetch_presigned(client: SpApiClient, url: str, describe: str) -> bytes:
    """A presigned document URL: no SP-API token, no SP-API bucket, but the same retries."""
    response = client.transport.api.send(
        "GET", url, label="documentDownload", auth=httpx.Auth(), describe=describe
    )
    response.raise_for_status()
    return response.content


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def quote_sku(sku: str) -> str:
    return quote(sku, safe="")


def currency_of(marketplace_id: str | None) -> str:
    market = MARKETPLACES.get(marketplace_id or "")
    return market.currency if market else "USD"
