"""Tokens 2021-03-01: Restricted Data Tokens for the PII calls, cached per set of resources."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ml_connector.sources.amazon.transport import parse_json
from ml_connector.transport.auth import LwaTokenAuth

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

RDT_MARGIN = 60.0  # seconds before its expiry a cached token is requested again

ResourcesKey = tuple[tuple[str, str, tuple[str, ...]], ...]


def create_restricted_data_token(client: SpApiClient, resources: list[dict]) -> tuple[str, float]:
    """A Restricted Data Token for exactly these resources, and its lifetime in seconds."""
    body = parse_json(
        client.transport.call(
            "createRestrictedDataToken",
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            body={"restrictedResources": resources},
        )
    )
    return str(body["restrictedDataToken"]), float(body.get("expiresIn", 3600))


class RestrictedTokens:
    """One client's Restricted Data Tokens: one per set of resources, shared by its threads."""

    def __init__(self, client: SpApiClient) -> None:
        self._client = client
        self._cache: dict[ResourcesKey, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def auth(self, resources: list[dict]) -> RestrictedToken:
        key = tuple((r["method"], r["path"], tuple(r.get("dataElements", ()))) for r in resources)
        return RestrictedToken(self, key, resources)

    def current(self, key: ResourcesKey, resources: list[dict]) -> str:
        clock = self._client.clock
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or clock.monotonic() >= cached[1] - RDT_MARGIN:
                value, lifetime = create_restricted_data_token(self._client, resources)
                cached = (value, clock.monotonic() + lifetime)
                self._cache[key] = cached
            return cached[0]

    def invalidate(self, key: ResourcesKey) -> None:
        with self._lock:
            self._cache.pop(key, None)


class RestrictedToken(LwaTokenAuth):
    """The auth of PII calls: the cached Restricted Data Token for these resources, requested on
    first use and again shortly before it expires or after Amazon refused it (403, once)."""

    def __init__(self, tokens: RestrictedTokens, key: ResourcesKey, resources: list[dict]) -> None:
        super().__init__(lambda: tokens.current(key, resources), lambda used: tokens.invalidate(key))
