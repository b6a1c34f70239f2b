"""The instance's endpoint list (GET {site}/entity) and the version check.

Acumatica locks every URL to one endpoint version; a version the instance does not offer answers 404
on every call. Checking the list first turns that into one clear message naming what is offered,
which is how an ERP upgrade that dropped our version is caught before posting starts failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ml_connector.errors import ConfigurationError
from ml_connector.targets.acumatica.errors import raise_for_status
from ml_connector.targets.acumatica.values import loads
from ml_connector.transport import pool


@dataclass(frozen=True)
class InstanceInfo:
    build: str | None
    endpoints: tuple[tuple[str, str], ...]  # (name, version)

    def versions_of(self, name: str) -> list[str]:
        return sorted({version for endpoint, version in self.endpoints if endpoint == name})


def parse_instance_info(data: object) -> InstanceInfo:
    """Accepts ``{"version": {...}, "endpoints": [...]}`` and the bare array of older builds."""
    if isinstance(data, list):
        build, items = None, data
    elif isinstance(data, dict):
        build = (data.get("version") or {}).get("acumaticaBuildVersion")
        items = data.get("endpoints") or []
    else:
        raise ConfigurationError("GET /entity did not answer an endpoint list; is the URL an Acumatica site?")
    endpoints = tuple(
        (str(item.get("name")), str(item.get("version"))) for item in items if isinstance(item, dict)
    )
    return InstanceInfo(build=build, endpoints=endpoints)


def fetch_instance_info(http: httpx.Client | None, site: str) -> InstanceInfo:
    """``http`` None: the site's client from the process's pool."""
    client = http if http is not None else pool.client_for(site)
    response = client.get(f"{site}/entity", headers={"Accept": "application/json"})
    if response.status_code == 404:
        raise ConfigurationError(f"{site}/entity was not found: the URL is not an Acumatica site root")
    raise_for_status(response, "GET /entity")
    return parse_instance_info(loads(response.content))


def require_version(info: InstanceInfo, name: str, version: str) -> None:
    """Raise ConfigurationError naming the offered versions when ``name/version`` is missing."""
    if (name, version) in info.endpoints:
        return
    offered = info.versions_of(name)
    build = f" (build {info.build})" if info.build else ""
    if offered:
        raise ConfigurationError(
            f"Acumatica instance{build} does not offer endpoint {name}/{version}; it offers "
            f"{name} versions {', '.join(offered)}. Set endpoint_version to one of them."
        )
    raise ConfigurationError(f"Acumatica instance{build} offers no {name} endpoint at all")
