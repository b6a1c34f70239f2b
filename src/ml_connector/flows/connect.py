"""What `ml-connector connect` validates and checks before it stores anything.

The CLI parses and prints; the rules live here: marketplace ids and regions from Amazon's own list
(sources/amazon/regions.py), URLs with a scheme, Acumatica endpoint versions by their format, and
one credentials check per system (skippable), with the same quick retry policy as `ping`.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import urlsplit

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import ConfigurationError, MlConnectorError
from ml_connector.sources.amazon.regions import MARKETPLACES, REGIONS
from ml_connector.transport.retry import RetryPolicy

ENDPOINT_VERSION = re.compile(r"^\d{2}\.\d{3}\.\d{3}$")
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    if not CONNECTION_NAME.fullmatch(name):
        raise ConfigurationError(
            f"--name {name!r}: a connection name is letters, digits, '.', '_' and '-' (at most 64), "
            "starting with a letter or digit"
        )
    return name


def check_region(region: str) -> str:
    if region not in REGIONS:
        raise ConfigurationError(
            f"--region {region!r} is not an SP-API region; use one of {', '.join(REGIONS)}"
        )
    return region


def check_marketplaces(marketplaces: list[str], region: str) -> list[str]:
    """Each id must be one of Amazon's, and of the connection's region."""
    for marketplace_id in marketplaces:
        market = MARKETPLACES.get(marketplace_id)
        if market is None:
            known = ", ".join(f"{m.marketplace_id} ({m.name})" for m in list(MARKETPLACES.values())[:6])
            raise ConfigurationError(
                f"--marketplace {marketplace_id!r} is not an Amazon marketplace id; for example {known}, ..."
            )
        if market.region != region:
            raise ConfigurationError(
                f"--marketplace {marketplace_id} ({market.name}) is in region {market.region}, "
                f"not {region}: use --region {market.region} (one connection reads one region)"
            )
    return marketplaces


def check_url(value: str, option: str) -> str:
    """An http(s) URL with a host; the scheme is never guessed, and http only on loopback."""
    from ml_connector.transport.urls import require_secure_url

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{option} {value!r} is not a URL: give it with its scheme, as in https://erp.example.com/AcumaticaERP"
        )
    require_secure_url(value.strip(), option)
    return value.strip().rstrip("/")


def check_endpoint_version(value: str) -> str:
    if not ENDPOINT_VERSION.fullmatch(value):
        raise ConfigurationError(
            f"--endpoint-version {value!r}: Acumatica endpoint versions look like 24.200.001 "
            "(System > Web Service Endpoints lists them)"
        )
    return value


def _quick(clock: Clock) -> RetryPolicy:
    return RetryPolicy(attempts=2, base=0.5, cap=2.0, clock=clock)


def check_amazon(
    settings: dict[str, Any], secrets: dict[str, str], *, clock: Clock = SYSTEM_CLOCK
) -> list[str]:
    """The LWA exchange and getMarketplaceParticipations; the marketplaces the account holds."""
    from ml_connector.sources.amazon.client import SpApiClient

    client = SpApiClient.from_connection(settings, secrets, clock=clock, retry=_quick(clock))
    try:
        return sorted({p.marketplace_id for p in client.get_marketplace_participations()})
    finally:
        client.close()


def check_m3(ionapi: Any, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """One ION token grant with the service account (revoked again)."""
    import httpx

    from ml_connector.targets.m3.token import IonTokenClient

    with httpx.Client(timeout=20.0) as http:
        tokens = IonTokenClient(ionapi, http, clock=clock, retry=_quick(clock))
        tokens.token()
        with contextlib.suppress(MlConnectorError):  # a refused revoke does not make the grant wrong
            tokens.revoke()


def check_acumatica(
    settings: dict[str, Any], secrets: dict[str, str], *, clock: Clock = SYSTEM_CLOCK
) -> list[str]:
    """The endpoint version offered, then one sign-in that is signed out again."""
    from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
    from ml_connector.targets.acumatica.target import AcumaticaTarget

    target = AcumaticaTarget(
        AcumaticaSettings.from_mapping(settings),
        AcumaticaCredentials.from_secrets(secrets),
        clock=clock,
        retry=_quick(clock),
    )
    try:
        return list(target.check())
    finally:
        target.close()
