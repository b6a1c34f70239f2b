"""Adding a connection from the console: what `ml-connector connect amazon|m3|acumatica` stores
(settings and vault credentials), plus the connection's table in config.toml, then the same ping
the CLI runs, so a newcomer sees at once whether the credentials fit."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import tomlkit

from ml_connector.config import parse_config
from ml_connector.engine.redact import register_secrets
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError
from ml_connector.ops import config_edit
from ml_connector.ops.events import record_action

REGIONS = ("na", "eu", "fe")
M3_FIELDS = ("company", "division", "facility", "warehouse", "customer_template", "order_type")
ACUMATICA_FIELDS = ("branch", "base_currency", "warehouse")


@dataclass
class NewConnection:
    name: str
    erp: str  # m3 or acumatica
    marketplaces: list[str]
    region: str = "na"
    mode: str = "summary"
    start: str = ""
    amazon_url: str = ""  # an SP-API sandbox; empty = Amazon's own endpoint for the region
    client_secret_rotates_on: str = ""
    lwa: dict[str, str] = field(default_factory=dict)  # client_id, client_secret, refresh_token
    ionapi: bytes = b""
    m3: dict[str, str] = field(default_factory=dict)
    acumatica_url: str = ""
    acumatica_tenant: str = ""
    acumatica_version: str = "24.200.001"
    acumatica: dict[str, str] = field(default_factory=dict)
    acumatica_secrets: dict[str, str] = field(
        default_factory=dict
    )  # client_id, client_secret, username, password


def _required(values: dict[str, str], names: tuple[str, ...], what: str) -> dict[str, str]:
    missing = [n.replace("_", " ") for n in names if not (values.get(n) or "").strip()]
    if missing:
        raise ConfigurationError(f"{what}: give the {', '.join(missing)}")
    return {n: values[n].strip() for n in names}


def add_connection(store: Store, config_path: Path, new: NewConnection, *, user: str) -> None:
    """Validate everything first; then the vault and the store; then config.toml (validated by the
    project's loader before it is written). Secrets never reach config.toml or a log."""
    from ml_connector.engine.vault import Vault
    from ml_connector.targets.m3.ionapi import parse_ionapi

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", new.name or ""):
        raise ConfigurationError("a connection name is letters, digits, '.', '_' or '-' (up to 64)")
    if new.name in {c.name for c in store.connections()}:
        raise ConfigurationError(f"a connection named {new.name!r} exists already")
    if new.region not in REGIONS:
        raise ConfigurationError(f"the Amazon region is one of {', '.join(REGIONS)}")
    if new.erp not in ("m3", "acumatica"):
        raise ConfigurationError("choose the ERP: Infor M3 or Acumatica")
    lwa = _required(new.lwa, ("client_id", "client_secret", "refresh_token"), "Amazon")
    register_secrets(lwa.values())
    amazon_settings: dict[str, Any] = {"region": new.region, "marketplaces": new.marketplaces}
    if new.amazon_url.strip():
        amazon_settings["sandbox_url"] = config_edit.checked_url(new.amazon_url.strip(), "the SP-API URL")
    if new.client_secret_rotates_on.strip():
        amazon_settings["client_secret_rotates_on"] = date.fromisoformat(
            new.client_secret_rotates_on.strip()
        ).isoformat()
    table = tomlkit.table()
    table["name"] = new.name
    table["marketplaces"] = new.marketplaces
    table["erp"] = new.erp
    table["mode"] = new.mode
    if new.start.strip():
        table["start"] = date.fromisoformat(new.start.strip())
    erp_table = tomlkit.table()
    if new.erp == "m3":
        if not new.ionapi:
            raise ConfigurationError("M3: upload the ION API service account's .ionapi file")
        try:
            document = json.loads(new.ionapi.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigurationError("the uploaded file is not a JSON .ionapi file") from None
        ionapi = parse_ionapi(document, source="the uploaded .ionapi file")
        erp_secrets: dict[str, Any] = dict(document)
        register_secrets(str(v) for v in ionapi.secrets().values())
        erp_settings = {"tenant": document.get("ti"), "ion_url": document.get("iu")}
        for name in M3_FIELDS:
            if (new.m3.get(name) or "").strip():
                erp_table[name] = new.m3[name].strip()
    else:
        erp_secrets = _required(
            new.acumatica_secrets, ("client_id", "client_secret", "username", "password"), "Acumatica"
        )
        register_secrets(erp_secrets.values())
        if not new.acumatica_tenant.strip():
            raise ConfigurationError("Acumatica: give the tenant")
        erp_settings = {
            "url": config_edit.checked_url(new.acumatica_url.strip().rstrip("/"), "the Acumatica site"),
            "tenant": new.acumatica_tenant.strip(),
            "endpoint_version": new.acumatica_version.strip() or "24.200.001",
        }
        for name in ACUMATICA_FIELDS:
            if (new.acumatica.get(name) or "").strip():
                erp_table[name] = new.acumatica[name].strip()
    table[new.erp] = erp_table
    doc = (
        tomlkit.parse(config_path.read_text(encoding="utf-8")) if config_path.exists() else tomlkit.document()
    )
    if "connections" not in doc:
        doc["connections"] = tomlkit.aot()
    doc["connections"].append(table)
    text = tomlkit.dumps(doc)
    parse_config(text, source=str(config_path), base_dir=config_path.parent)  # refuse before writing
    vault = Vault.load()
    store.ensure_connection(
        new.name, erp=new.erp, settings={"amazon": amazon_settings, new.erp: erp_settings}
    )
    store.save_credentials(new.name, "amazon", lwa, vault=vault)
    store.save_credentials(new.name, new.erp, erp_secrets, vault=vault)
    config_edit.write_atomically(config_path, text)
    record_action(
        store,
        user,
        "add_connection",
        connection=new.name,
        message=f"{user} added connection {new.name} ({new.erp})",
    )
