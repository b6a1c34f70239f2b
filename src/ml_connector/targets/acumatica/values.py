"""Acumatica's value wrapping, both directions.

Every business field of the contract-based API travels as an object: ``{"value": x}`` out and in,
``{}`` for null, and ``{"value": x, "error": "..."}`` when validation failed. Decimals are sent as
exact JSON numbers (never through float) and read back as Decimal, so money survives the trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

SYSTEM_KEYS = frozenset({"id", "rowNumber", "note", "custom", "_links", "files", "error", "delete"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return value


def wrap(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Plain fields -> wrapped entity. Lists of mappings become detail arrays, mappings become
    linked entities; None values are left out (PUT only writes what is sent)."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in SYSTEM_KEYS:
            result[name] = value
        elif isinstance(value, list | tuple):
            result[name] = [wrap(row) for row in value]
        elif isinstance(value, Mapping):
            result[name] = wrap(value)
        else:
            result[name] = {"value": _plain(value)}
    return result


def unwrap(entity: Mapping[str, Any]) -> dict[str, Any]:
    """Wrapped entity -> plain fields (``{}`` becomes None). System properties are kept as-is."""
    result: dict[str, Any] = {}
    for name, value in entity.items():
        if name in SYSTEM_KEYS:
            result[name] = value
        elif isinstance(value, list):
            result[name] = [unwrap(row) for row in value if isinstance(row, Mapping)]
        elif isinstance(value, Mapping):
            if "value" in value or not value or set(value) <= {"value", "error"}:
                result[name] = value.get("value")
            else:
                result[name] = unwrap(value)
    return result


def field_errors(entity: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every ``error`` in a 422 echo, as (field path, message), including detail rows and
    linked entities; the entity-level error comes first."""
    found: list[tuple[str, str]] = []
    if prefix == "" and isinstance(entity.get("error"), str):
        found.append(("", entity["error"]))
    for name, value in entity.items():
        if name in SYSTEM_KEYS:
            continue
        if isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, Mapping):
                    if isinstance(row.get("error"), str):
                        found.append((f"{prefix}{name}[{index}]", row["error"]))
                    found.extend(field_errors(row, f"{prefix}{name}[{index}]."))
        elif isinstance(value, Mapping):
            if isinstance(value.get("error"), str):
                found.append((f"{prefix}{name}", value["error"]))
            elif "value" not in value:
                found.extend(field_errors(value, f"{prefix}{name}."))
    return found


def dumps(body: Any) -> bytes:
    """JSON with exact decimals: a Decimal is written as its own digits, never through float."""
    return _encode(body).encode()


def _encode(body: Any) -> str:
    if isinstance(body, Decimal):
        return format(body, "f")
    if isinstance(body, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_encode(v)}" for k, v in body.items()) + "}"
    if isinstance(body, list | tuple):
        return "[" + ", ".join(_encode(v) for v in body) + "]"
    return json.dumps(body)


def loads(data: bytes | str) -> Any:
    """JSON with numbers read as Decimal (Acumatica answers 1222.8, never a string)."""
    return json.loads(data, parse_float=Decimal)


def odata_string(value: str) -> str:
    """An OData v3 string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_datetime(value: datetime) -> str:
    return f"datetimeoffset'{value.isoformat()}'"
