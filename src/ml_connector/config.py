"""The deployment configuration: one TOML file, validated, with errors that name the line.

Secrets are never in this file: a connection names its credentials, which live encrypted in the
store's vault under the connection's name (`ml-connector connect ... --name NAME`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ml_connector.errors import ConfigurationError

CONFIG_ENV = "ML_CONNECTOR_CONFIG"
FLOWS = ("settlements", "reconcile", "orders", "items", "stock_price", "shipments")
DEFAULT_CADENCE = {
    "settlements": "24h",
    "reconcile": "24h",
    "orders": "15m",
    "items": "24h",
    "stock_price": "15m",
    "shipments": "15m",
}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")


def parse_duration(text: str) -> timedelta:
    """'15m', '24h', '30s', '1d' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use a number and s, m, h or d, as in '15m')")
    value, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: value})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_keys(settings_class: type, section: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The ERP tables are the targets' own settings classes, so the file cannot drift from them."""

    def check(values: dict[str, Any]) -> dict[str, Any]:
        known = {f.name for f in dataclass_fields(settings_class)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown key(s) in [connections.{section}]: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return values

    return check


def _m3_table(values: dict[str, Any]) -> dict[str, Any]:
    from ml_connector.targets.m3.settings import M3Settings

    _known_keys(M3Settings, "m3")(values)
    if not re.fullmatch(r"\d{1,3}", str(values.get("company", "100"))):
        raise ValueError(f"company must be the M3 company number (1 to 3 digits), not {values['company']!r}")
    return values


def _acumatica_table(values: dict[str, Any]) -> dict[str, Any]:
    from ml_connector.targets.acumatica.settings import AcumaticaSettings

    _known_keys(AcumaticaSettings, "acumatica")(values)
    version = values.get("endpoint_version")
    if version is not None and not re.fullmatch(r"\d+\.\d{3}\.\d{3}", str(version)):
        raise ValueError(f"endpoint_version looks like 24.200.001, not {version!r}")
    return values


M3Table = Annotated[dict[str, Any], AfterValidator(_m3_table)]
AcumaticaTable = Annotated[dict[str, Any], AfterValidator(_acumatica_table)]


def _duration_text(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration_text)]


class CadenceConfig(_Strict):
    """How often `ml-connector run` runs each flow; unset flows use DEFAULT_CADENCE."""

    settlements: Duration | None = None
    reconcile: Duration | None = None
    orders: Duration | None = None
    items: Duration | None = None
    stock_price: Duration | None = None
    shipments: Duration | None = None


class ConnectionConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    marketplaces: list[str] = Field(min_length=1)
    erp: Literal["m3", "acumatica"]
    mode: Literal["summary", "invoice"] = "summary"
    mapping: Path | None = None
    split_by_period: bool = False
    start: date | None = None  # go-live: no flow reads Amazon data from before this date
    customer_mode: Literal["marketplace", "buyer"] = "marketplace"
    flows: list[Literal["settlements", "reconcile", "orders", "items", "stock_price", "shipments"]] = Field(
        default_factory=lambda: list(FLOWS)
    )
    cadence: CadenceConfig = Field(default_factory=CadenceConfig)
    m3: M3Table | None = None  # M3Settings fields (targets/m3/settings.py)
    acumatica: AcumaticaTable | None = None  # AcumaticaSettings fields; url/tenant may come from `connect`

    @field_validator("marketplaces")
    @classmethod
    def _known_marketplaces(cls, value: list[str]) -> list[str]:
        from ml_connector.sources.amazon.regions import MARKETPLACES

        unknown = [m for m in value if m not in MARKETPLACES]
        if unknown:
            raise ValueError(f"unknown Amazon marketplace id(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _erp_section_present(self) -> ConnectionConfig:
        if getattr(self, self.erp) is None:
            raise ValueError(f"erp = {self.erp!r} needs a [connections.{self.erp}] table")
        return self

    def first_run_since(self, now: datetime, retention: timedelta = timedelta(days=90)) -> datetime:
        """Where a flow starts when it has no cursor yet: the go-live date, else as far back as
        Amazon keeps reports (90 days), so that orders and the settlements that pay them line up."""
        earliest = now - retention
        if self.start is None:
            return earliest
        return max(earliest, datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC))

    @property
    def erp_settings(self) -> dict[str, Any]:
        return dict(getattr(self, self.erp) or {})

    def cadence_of(self, flow: str) -> timedelta:
        return parse_duration(getattr(self.cadence, flow) or DEFAULT_CADENCE[flow])


class RunConfig(_Strict):
    """`[run]`: how workers keep their hold on work (see docs/DESIGN.md, "Exactly once")."""

    # a worker's run leases and record claims lapse this long after its last heartbeat (SIGKILL)
    heartbeat_timeout: Duration = "90s"

    @property
    def heartbeat(self) -> timedelta:
        return parse_duration(self.heartbeat_timeout)


class DeploymentConfig(_Strict):
    store_url: str | None = None
    time_scale: Annotated[float, Field(gt=0)] = 1.0
    run: RunConfig = Field(default_factory=RunConfig)
    connections: list[ConnectionConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> DeploymentConfig:
        names = [c.name for c in self.connections]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"connection names must be unique: {', '.join(duplicates)}")
        return self

    def connection(self, name: str) -> ConnectionConfig:
        for connection in self.connections:
            if connection.name == name:
                return connection
        known = ", ".join(c.name for c in self.connections) or "none"
        raise ConfigurationError(f"no connection named {name!r} in the configuration (known: {known})")


def default_config_path() -> Path:
    from ml_connector.engine.paths import config_file

    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return config_file()


def load_config(path: Path | None = None) -> DeploymentConfig:
    """Read and validate the file; a ConfigurationError names the file, the line and the reason."""
    path = Path(path) if path else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: no configuration file (run `ml-connector init` to write a commented example)"
        ) from None
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> DeploymentConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    try:
        config = DeploymentConfig.model_validate(_flatten_store(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        line = _line_of(text, error["loc"], raw)
        where = f"{source}:{line}" if line else source
        field = ".".join(str(part) for part in error["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigurationError(f"{where}: {field}: {error['msg']}{more}") from None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _flatten_store(raw: dict[str, Any]) -> dict[str, Any]:
    data = dict(raw)
    store = data.pop("store", None) or {}
    if "url" in store:
        data["store_url"] = store["url"]
    return data


def _resolve_paths(config: DeploymentConfig, base_dir: Path) -> DeploymentConfig:
    connections = [
        c.model_copy(update={"mapping": base_dir / c.mapping})
        if c.mapping is not None and not c.mapping.is_absolute()
        else c
        for c in config.connections
    ]
    return config.model_copy(update={"connections": connections})


def _line_of(text: str, loc: tuple, raw: dict[str, Any]) -> int | None:
    """Best effort: the line of the offending key, found by walking the TOML text in the order of
    its tables. Only used to point a person at the right place."""
    lines = text.splitlines()
    start = 0
    if loc and loc[0] == "connections" and len(loc) > 1 and isinstance(loc[1], int):
        seen = -1
        for number, line in enumerate(lines):
            if line.strip() == "[[connections]]":
                seen += 1
                if seen == loc[1]:
                    start = number
                    break
        keys = [str(part) for part in loc[2:]]
    else:
        keys = [str(part) for part in loc]
    for key in reversed(keys):
        pattern = re.compile(rf"^\s*(\[\s*connections\.)?{re.escape(key)}\b")
        for number in range(start, len(lines)):
            if pattern.match(lines[number]) or re.match(
                rf"^\s*\[connections\.{re.escape(key)}\]", lines[number]
            ):
                return number + 1
    return start + 1 if start else None


EXAMPLE_CONFIG = """\
# ml-connector deployment configuration.
#
# Secrets never go in this file. Each connection's credentials live encrypted in the store, saved with
#   ml-connector connect amazon    --name NAME ...
#   ml-connector connect m3        --name NAME --ionapi FILE
#   ml-connector connect acumatica --name NAME --url URL ...
# and this file refers to them by the connection's name.

[store]
# Where records, cursors, the audit trail and the vault live. Default: SQLite in ML_CONNECTOR_HOME.
# url = "postgresql+psycopg://ml@db.internal/ml_connector"

# One [[connections]] table per Amazon seller account + ERP target.
[[connections]]
name = "us-ca-m3"
marketplaces = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]   # Amazon.com and Amazon.ca
erp = "m3"
mode = "summary"              # summary: settlements recognise revenue; orders are sales orders only
                              # invoice: orders are invoices; settlements clear the receivable
split_by_period = true        # one journal per calendar month when a settlement spans a month end
customer_mode = "marketplace" # one ERP customer per marketplace; "buyer" needs buyer PII (RDT)
# start = 2026-11-01          # go-live: nothing before this date is read (default: 90 days back)
# mapping = "mapping.toml"    # GL account rules; default: the shipped typical chart of accounts
# flows = ["settlements", "reconcile", "orders", "items", "stock_price", "shipments"]

[connections.cadence]         # how often `ml-connector run` runs each flow
settlements = "24h"
orders = "15m"
stock_price = "15m"
shipments = "15m"

[connections.m3]
company = "100"
division = "AAA"
warehouse = "100"
customer_template = "AMZTEMPL"  # new marketplace customers are copied from this customer
alias_type = 3                  # MMS025MI alias type (ALWT) and qualifier (ALWQ) holding Amazon SKUs
alias_qualifier = "AMZS"
# sku_map = { "A-SKU-LONGER-THAN-THE-ALIAS-FIELD" = "ITEM0001" }

# [[connections]]
# name = "uk-acumatica"
# marketplaces = ["A1F83G8C2ARO7P"]
# erp = "acumatica"
# mode = "invoice"
# [connections.acumatica]          # url, tenant and endpoint version come from `connect acumatica`
# branch = "HQ"
# ar_control_accounts = ["11000"]   # never posted to by a settlement journal
# invoice_settlement = "clearing"   # or "payment": how settlements clear the AR invoices
"""
