"""EXPORTMI.Select as the sandbox tenant answers it: one table, selected columns, ``AND``-ed equality
conditions, one ``REPL`` record per row joined by ``SEPC`` (what Infor documents; no joins, and the
company is always the session's, so no CONO filter is needed).

Tables are the world's own data seen through M3's column names (``OOHEAD``: customer order heads,
``OXHEAD``: batch order heads); anything else is refused as M3 refuses an unknown table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

Row = dict[str, str]
TableRows = Callable[[], Iterable[Row]]

_QUERY = re.compile(
    r"^\s*(?P<columns>[A-Za-z0-9_]+(?:\s*,\s*[A-Za-z0-9_]+)*)\s+from\s+(?P<table>[A-Za-z0-9_]+)"
    r"(?:\s+where\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*$", re.DOTALL)


class QueryError(ValueError):
    """A query EXPORTMI would refuse; the message is M3's kind of words."""


def select(tables: Mapping[str, TableRows], query: str, separator: str = ";") -> list[Row]:
    match = _QUERY.match(query)
    if match is None:
        raise QueryError(f"Invalid query: {query}")
    table = match.group("table").upper()
    if table not in tables:
        raise QueryError(f"Table {table} does not exist")
    columns = [c.strip().upper() for c in match.group("columns").split(",")]
    conditions = []
    if match.group("where"):
        for part in re.split(r"\s+and\s+", match.group("where"), flags=re.IGNORECASE):
            cond = _CONDITION.match(part)
            if cond is None:
                raise QueryError(f"Invalid condition: {part.strip()}")
            value = cond.group(2)
            value = value[1:-1].replace("''", "'") if value.startswith("'") else value
            conditions.append((cond.group(1).upper(), value))
    rows = list(tables[table]())
    known = set(rows[0]) if rows else set()
    for name in [*columns, *(c for c, _ in conditions)]:
        if rows and name not in known:
            raise QueryError(f"Field {name} does not exist in table {table}")
    return [
        {"REPL": separator.join(row.get(c, "") for c in columns)}
        for row in rows
        if all(row.get(name, "").strip() == value for name, value in conditions)
    ]


def prefixed(prefix: str, row: Mapping[str, str], company: str) -> Row:
    """A world row (MI field names) under the table's column names: ``CUOR`` -> ``OACUOR``."""
    return {f"{prefix}CONO": company, **{f"{prefix}{k}": str(v) for k, v in row.items()}}
