"""The deployment configuration: one TOML file, validated, with errors that name the line.

Secrets are never in this file: a connection names its credentials, which live encrypted in the
store's vault under the connection's name (`ml-connector connect ... --name NAME`).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
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
    create_model,
    field_validator,
    model_validator,
)

from ml_connector.errors import ConfigurationError
from ml_connector.flows import registry

CONFIG_ENV = "ML_CONNECTOR_CONFIG"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SHORTEST_CADENCE = timedelta(seconds=1)
LONGEST_CADENCE = timedelta(days=366)
STORE_KEYS = ("url", "keep_runs_days")  # the keys of [store]; DeploymentConfig.store_<key>
MAX_TIME_SCALE = 1_000_000.0


def parse_duration(text: str) -> timedelta:
    """'15m', '24h', '30s', '1d' -> timedelta, between one second and a year."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a duration: {text!r} (use a number and s, m, h or d, as in '15m')")
    digits = match.group(1).lstrip("0") or "0"
    seconds = int(digits) * _UNIT_SECONDS[match.group(2)] if len(digits) <= 9 else 10**12
    value = timedelta(seconds=seconds) if seconds <= LONGEST_CADENCE.total_seconds() else None
    if value is None or value < SHORTEST_CADENCE:
        raise ValueError(f"{text!r} is out of range: a cadence is between 1s and 366d")
    return value


class _Strict(BaseModel):
    # strict: `split_by_period = "yes"` or `= 1` is refused, never read as true
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- the ERP tables: the targets' own settings classes, type-checked field by field --------------


def _settings_fields(settings_class: type) -> dict[str, Any]:
    hints = typing.get_type_hints(settings_class)
    return {f.name: hints.get(f.name, Any) for f in dataclass_fields(settings_class)}


def _type_words(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false (no quotes)"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is str:
        return "text in quotes"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, frozenset, list, set):
        return 'a list of texts, as in ["a", "b"]'
    if origin in (dict, Mapping) or tp is Mapping:
        return 'a table, as in { "KEY" = "VALUE" }'
    return "a value of another kind"


def _value_fits(tp: Any, value: Any) -> bool:
    """Strict TOML-to-field type check (None/Optional accepted where the field allows it)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_value_fits(arg, value) for arg in typing.get_args(tp) if arg is not type(None))
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**12
    if tp is float:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and abs(value) < 10**12
            and math.isfinite(value)
        )
    if tp is str:
        return isinstance(value, str)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (tuple, frozenset, list, set):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if origin in (dict, Mapping) or tp is Mapping:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return True  # a structured setting (gls840_layout): its own class checks it below


class TableKeyError(ValueError):
    """A bad key inside an ERP table; carries the key so the error can point at its line."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def _check_erp_table(settings_class: type, section: str, values: dict[str, Any], **required: Any) -> None:
    known = _settings_fields(settings_class)
    for key in values:
        if key not in known:
            raise TableKeyError(f"unknown key {key!r}{_did_you_mean(key, known)}", key)
    for key, value in values.items():
        tp = known[key]
        if key == "company" and section == "m3" and isinstance(value, int) and not isinstance(value, bool):
            continue  # CONO written as a number is fine
        if not _value_fits(tp, value):
            raise TableKeyError(f"{key} must be {_type_words(tp)}, not {value!r}"[:300], key)
    try:
        settings_class(**{**required, **values})
    except ConfigurationError as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"[connections.{section}]: {exc}"[:300]) from None


def _did_you_mean(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"


def _m3_table(values: dict[str, Any]) -> dict[str, Any]:
    from ml_connector.targets.m3.settings import M3Settings

    _check_erp_table(M3Settings, "m3", values)
    if not re.fullmatch(r"\d{1,3}", str(values.get("company", "100"))):
        raise TableKeyError(
            f"company must be the M3 company number (1 to 3 digits), not {values['company']!r}", "company"
        )
    return values


def _acumatica_table(values: dict[str, Any]) -> dict[str, Any]:
    from ml_connector.targets.acumatica.settings import AcumaticaSettings

    version = values.get("endpoint_version")
    if version is not None and not re.fullmatch(r"\d+\.\d{3}\.\d{3}", str(version)):
        raise TableKeyError(f"endpoint_version looks like 24.200.001, not {version!r}", "endpoint_version")
    required = {k: "https://placeholder.invalid" if k == "url" else "T" for k in ("url", "tenant")}
    _check_erp_table(AcumaticaSettings, "acumatica", values, **required)
    return values


M3Table = Annotated[dict[str, Any], AfterValidator(_m3_table)]
AcumaticaTable = Annotated[dict[str, Any], AfterValidator(_acumatica_table)]


def _duration_text(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration_text)]


# One optional duration per flow of the registry (flows/registry.py), nothing else.
CadenceConfig: type[_Strict] = create_model(  # type: ignore[call-overload]
    "CadenceConfig",
    __base__=_Strict,
    __doc__="How often `ml-connector run` runs each flow; unset flows use the registry's default.",
    **{
        s.name: (
            Duration | None,
            Field(None, description=f"cadence of the {s.name} flow (default {s.cadence})"),
        )
        for s in registry.FLOWS
    },
)

FlowName = Literal[registry.NAMES]  # type: ignore[valid-type]  # the registry's names, checked by pydantic


class ConnectionConfig(_Strict):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="the connection's name, as given to `ml-connector connect ... --name`",
    )
    marketplaces: list[str] = Field(min_length=1, description="Amazon marketplace ids this connection syncs")
    erp: Literal["m3", "acumatica"] = Field(description="the ERP: m3 or acumatica")
    mode: Literal["summary", "invoice"] = Field(
        "summary",
        description="summary: settlements recognise revenue, orders are sales orders; "
        "invoice: orders are invoices, settlements clear the receivable",
    )
    mapping: Annotated[Path | None, Field(strict=False)] = Field(
        None, description="GL mapping file (relative to this file); default: the shipped typical chart"
    )
    split_by_period: bool = Field(
        False, description="one journal per calendar month when a settlement spans a month end"
    )
    fee_tax: Literal["recoverable", "expense"] | None = Field(
        None,
        description="tax Amazon charges on its fees: recoverable (input-tax account) or expense "
        "(with the fee); default: as the mapping says",
    )
    start: date | None = Field(
        None, description="go-live date: no flow reads Amazon data from before it (default: 90 days back)"
    )
    customer_mode: Literal["marketplace", "buyer"] = Field(
        "marketplace", description="one ERP customer per marketplace, or per buyer (needs buyer PII)"
    )
    flows: list[FlowName] = Field(
        default_factory=lambda: list(registry.NAMES),
        description="the flows `sync all` and `run` run",
    )
    cadence: CadenceConfig = Field(
        default_factory=lambda: CadenceConfig(), description="[connections.cadence] table"
    )
    m3: M3Table | None = Field(None, description="[connections.m3] table (erp = m3)")
    acumatica: AcumaticaTable | None = Field(
        None, description="[connections.acumatica] table (erp = acumatica)"
    )

    @field_validator("marketplaces")
    @classmethod
    def _known_marketplaces(cls, value: list[str]) -> list[str]:
        from ml_connector.sources.amazon.regions import MARKETPLACES

        unknown = [m for m in value if m not in MARKETPLACES]
        if unknown:
            raise ValueError(
                f"unknown Amazon marketplace id(s): {', '.join(unknown)} "
                "(for example ATVPDKIKX0DER is Amazon.com, A1F83G8C2ARO7P Amazon.co.uk)"
            )
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
        return parse_duration(getattr(self.cadence, flow) or registry.spec(flow).cadence)


class RunConfig(_Strict):
    """`[run]`: how workers keep their hold on work (see docs/DESIGN.md, "Exactly once")."""

    heartbeat_timeout: Duration = Field(
        "90s",
        description="a worker's run leases and record claims lapse this long after its last heartbeat "
        "(a SIGKILLed worker's work is taken over then)",
    )

    @property
    def heartbeat(self) -> timedelta:
        return parse_duration(self.heartbeat_timeout)


class DeploymentConfig(_Strict):
    store_url: str | None = Field(
        None,
        description="[store] url: the database; default SQLite in the home (ML_CONNECTOR_DATABASE_URL wins)",
    )
    store_keep_runs_days: Annotated[int, Field(ge=1, le=36600)] = Field(
        90,
        description="[store] keep_runs_days: runs older than this are pruned when their flow next runs "
        "(the latest run of each connection and flow is always kept); records and audit are never pruned",
    )
    time_scale: Annotated[float, Field(gt=0, le=MAX_TIME_SCALE, allow_inf_nan=False)] = Field(
        1.0, description="clients' clock speed; only for the sandboxes, whose time runs faster"
    )
    run: RunConfig = Field(
        default_factory=lambda: RunConfig(), description="[run] table: how workers keep their hold on work"
    )
    connections: list[ConnectionConfig] = Field(
        default_factory=list, description="one [[connections]] table per connection"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> DeploymentConfig:
        names = [c.name for c in self.connections]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"connection names must be unique: {', '.join(duplicates)}")
        return self

    @property
    def keep_runs(self) -> timedelta:
        return timedelta(days=self.store_keep_runs_days)

    def connection(self, name: str) -> ConnectionConfig:
        for connection in self.connections:
            if connection.name == name:
                return connection
        known = ", ".join(c.name for c in self.connections) or "none"
        raise ConfigurationError(f"no connection named {name!r} in the configuration (known: {known})")


def default_config_path() -> Path:
    from ml_connector.engine.paths import config_file

    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    return config_file()


def load_config(path: Path | None = None) -> DeploymentConfig:
    """Read and validate the file; a ConfigurationError names the file, the line and the reason."""
    path = Path(path) if path else default_config_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: no configuration file (run `ml-connector init` to write a commented example)"
        ) from None
    except IsADirectoryError:
        raise ConfigurationError(
            f"{path} is a directory; give the configuration file (config.toml)"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigurationError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> DeploymentConfig:
    """Validate a configuration text; every problem is a ConfigurationError naming source and line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: nested too deeply to be a configuration file") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        reason = "a number has thousands of digits" if "digits" in str(exc) else str(exc)[:120]
        raise ConfigurationError(
            f"{source}: a value cannot be read ({reason}); no setting takes such a value"
        ) from None
    if not raw.get("connections"):
        raise ConfigurationError(
            f"{source}: no connections: add a [[connections]] table "
            "(`ml-connector config reference` lists every key; `ml-connector init` writes an example)"
        )
    try:
        config = DeploymentConfig.model_validate(_flatten_store(raw, source))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        key_loc = (*loc, cause.key) if isinstance(cause, TableKeyError) else loc
        line = _line_of(text, key_loc, missing=error["type"] == "missing")
        where = f"{source}:{line}" if line else source
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigurationError(f"{where}: {_describe(error, loc)}{more}") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: nested too deeply to be a configuration file") from None
    except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        raise ConfigurationError(f"{source}: cannot be read as a configuration ({str(exc)[:160]})") from None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _flatten_store(raw: dict[str, Any], source: str) -> dict[str, Any]:
    data = dict(raw)
    store = data.pop("store", None)
    if store is None:
        return data
    if not isinstance(store, dict):
        raise ConfigurationError(
            f"{source}:{_top_line(raw, 'store')}: store must be a table: write [store] and, under it, "
            'url = "postgresql+psycopg://user@host/db"'
        )
    unknown = sorted(set(store) - set(STORE_KEYS))
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown key {unknown[0]!r} in [store]{_did_you_mean(unknown[0], list(STORE_KEYS))}"
        )
    if "keep_runs_days" in store:
        data["store_keep_runs_days"] = store["keep_runs_days"]
    if "url" in store:
        if not isinstance(store["url"], str):
            raise ConfigurationError(
                f'{source}: [store] url must be text in quotes, as in "sqlite:////path/db"'
            )
        data["store_url"] = store["url"]
    return data


def _top_line(raw: dict[str, Any], key: str) -> int:
    return 1


def _resolve_paths(config: DeploymentConfig, base_dir: Path) -> DeploymentConfig:
    connections = [
        c.model_copy(update={"mapping": base_dir / c.mapping})
        if c.mapping is not None and not c.mapping.is_absolute()
        else c
        for c in config.connections
    ]
    return config.model_copy(update={"connections": connections})


# --- errors in the user's words ---------------------------------------------------------------------

_MODELS: dict[str, type[BaseModel]] = {}


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The settings model a location points into (for "did you mean")."""
    model: type[BaseModel] = DeploymentConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *typing.get_args(annotation)]
        nested = next(
            (
                c
                for c in candidates
                for c2 in [c, *typing.get_args(c)]
                if isinstance(c2, type) and issubclass(c2, BaseModel)
                for c in [c2]
            ),
            None,
        )
        if nested is None:
            return None
        model = nested
    return model


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = f"store.{part[6:]}" if str(part).startswith("store_") else str(part)
            text += ("." if text else "") + name
    return text


_WORDS = {
    "bool_type": "must be true or false (no quotes)",
    "bool_parsing": "must be true or false (no quotes)",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text in quotes",
    "list_type": 'must be a list, as in ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "date_type": "must be a date, as in 2026-11-01 (no quotes)",
    "date_parsing": "must be a date, as in 2026-11-01 (no quotes)",
    "date_from_datetime_inexact": "must be a date without a time, as in 2026-11-01",
    "path_type": "must be a file path in quotes",
    "missing": "is missing",
}


def _describe(error: Mapping[str, Any], loc: tuple) -> str:
    kind = error["type"]
    field = _dotted(loc)
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc)
        known = [k for k in (model.model_fields if model else {}) if not k.startswith("store_")]
        if model is DeploymentConfig:
            known.append("store")
        return f"unknown key {key!r}{_did_you_mean(key, known)}"
    if kind == "missing":
        return f"{field} is missing"
    if kind == "value_error":
        return f"{field}: {ctx.get('error', error['msg'])}" if field else str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"{field} must be one of {ctx.get('expected', '')}, not {error.get('input')!r}"[:300]
    if kind == "too_short":
        return f"{field} must not be empty"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        limits = {
            "greater_than": "above",
            "greater_than_equal": "at least",
            "less_than": "below",
            "less_than_equal": "at most",
        }
        bound = next(iter(ctx.values()), "")
        return f"{field} must be {limits[kind]} {bound}"
    if kind == "string_pattern_mismatch":
        return (
            f"{field} must be letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit"
        )
    if kind in _WORDS:
        return f"{field} {_WORDS[kind]}, not {error.get('input')!r}"[:300]
    return f"{field}: {str(error['msg']).removeprefix('Value error, ')}"


def _line_of(text: str, loc: tuple, *, missing: bool = False) -> int | None:
    """The line of the offending key, found by walking the TOML text in the order of its tables.
    Only used to point a person at the right place; a missing key points at its table's header."""
    lines = text.splitlines()
    header = re.compile(r"^\s*\[")
    start, end = 0, len(lines)
    keys = [str(part) for part in loc]
    if loc and loc[0] == "connections" and len(loc) > 1 and isinstance(loc[1], int):
        seen = -1
        for number, line in enumerate(lines):
            if re.match(r"^\s*\[\[\s*connections\s*\]\]", line):
                seen += 1
                if seen == loc[1]:
                    start = number
                elif seen == loc[1] + 1:
                    end = number
                    break
        keys = [str(part) for part in loc[2:]]
        if seen < loc[1]:
            return None
        if not keys or (missing and len(keys) == 1):
            return start + 1
        table_line = None
        if len(keys) > 1:  # [connections.m3] / [connections.cadence] within this connection
            for number in range(start, end):
                if re.match(rf"^\s*\[\s*connections\.{re.escape(keys[0])}\s*\]", lines[number]):
                    table_line = number
                    break
            if table_line is not None:
                if missing:
                    return table_line + 1
                start = table_line
        key = keys[-1] if table_line is not None or len(keys) == 1 else keys[0]
    else:
        end = next((n for n, line in enumerate(lines) if header.match(line)), len(lines))
        store_key = keys[0][6:] if keys and str(keys[0]).startswith("store_") else None
        key = store_key or (keys[-1] if keys else "")
        if store_key:
            start, end = 0, len(lines)
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    for number in range(start, end):  # an inline table: connections.m3 = {{ ... }}
        if re.match(rf"^\s*{re.escape(key)}\b", lines[number]):
            return number + 1
    return start + 1 if start else None


EXAMPLE_CONFIG = """\
# ml-connector deployment configuration: every setting that is not a secret lives here.
# Every key, its type, default and meaning: `ml-connector config reference` (docs/CONFIG.md).
#
# Secrets never go in this file. Each connection's credentials live encrypted in the store, saved with
#   ml-connector connect amazon    --name NAME --region na --marketplace ATVPDKIKX0DER
#   ml-connector connect m3        --name NAME --ionapi FILE
#   ml-connector connect acumatica --name NAME --url URL --tenant TENANT
# and this file refers to them by the connection's name.

[store]
# Where records, cursors, the audit trail and the vault live. Default: SQLite in ML_CONNECTOR_HOME.
# url = "postgresql+psycopg://ml@db.internal/ml_connector"

# One [[connections]] table per Amazon seller account + ERP target.
[[connections]]
name = "my-shop-na"
marketplaces = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]   # Amazon.com and Amazon.ca
erp = "m3"
mode = "summary"              # summary: settlements recognise revenue; orders are sales orders only
                              # invoice: orders are invoices; settlements clear the receivable
split_by_period = true        # one journal per calendar month when a settlement spans a month end
customer_mode = "marketplace" # one ERP customer per marketplace; "buyer" needs buyer PII (RDT)
# start = 2026-11-01          # go-live: nothing before this date is read (default: 90 days back)
# mapping = "mapping.toml"    # GL account rules; default: the shipped typical chart of accounts
# flows = ["items", "orders", "shipments", "stock_price", "settlements"]   # default: every flow

[connections.cadence]         # how often `ml-connector run` runs each flow
settlements = "24h"
orders = "15m"
stock_price = "15m"
shipments = "15m"

[connections.m3]
company = "100"
division = "AAA"
facility = "A01"
warehouse = "100"
customer_template = "AMZTEMPL"  # new marketplace customers are copied from this customer
order_type = "AMZ"              # ORTP of the Amazon sales orders
alias_type = 3                  # MMS025MI alias type (ALWT) and qualifier (ALWQ) holding Amazon SKUs
alias_qualifier = "AMZS"
# sku_map = { "A-SKU-LONGER-THAN-THE-ALIAS-FIELD" = "ITEM0001" }

# [[connections]]
# name = "my-shop-uk"
# marketplaces = ["A1F83G8C2ARO7P"]
# erp = "acumatica"
# mode = "invoice"
# [connections.acumatica]          # url and tenant come from `connect acumatica`
# endpoint_version = "24.200.001"
# branch = "HQ"
# base_currency = "GBP"             # prices in another currency are not sent to Amazon
# warehouse = "WHOLESALE"
# ar_control_accounts = ["11000"]   # never posted to by a settlement journal
# invoice_settlement = "clearing"   # or "payment": how settlements clear the AR invoices
"""
