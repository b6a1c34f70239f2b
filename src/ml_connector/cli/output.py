"""Output that survives pipes: tables for people on a terminal, tab-separated rows for scripts,
and one stable JSON document per command with `--json`.

On a terminal a table wraps long values (never cuts them); anywhere else every row is one line of
tab-separated full values under a header line, so `| cut -f3`, `| grep` and logs keep everything.
JSON documents carry ``"version": 1`` and are described in docs/CLI.md; a field is only ever added.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

JSON_VERSION = 1


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _plain(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table of full values: wrapped on a terminal, tab-separated lines otherwise."""
    rows = [list(row) for row in rows]
    if not stdout_is_terminal():
        out = sys.stdout
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_plain(v) for v in row) + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")  # wrapped to the width, never cut
    for row in rows:
        table.add_row(*(_plain(v) for v in row))
    Console(highlight=False, no_color="NO_COLOR" in os.environ).print(table)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def print_json(kind: str, data: dict[str, Any]) -> None:
    """One JSON document: {"version": 1, "kind": KIND, ...data}."""
    document = {"version": JSON_VERSION, "kind": kind, **data}
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=_default) + "\n")
    sys.stdout.flush()


KIND_NOUNS = {
    "settlement": "settlements",
    "journal": "journals",
    "customer": "customers",
    "sales_order": "sales orders",
    "sales_invoice": "sales invoices",
    "credit_note": "credit notes",
    "deferral": "deferral journals",
}


def kind_words(kind: str | None) -> str:
    """A record kind as the status table names it ("journals"); "-" when there are no records."""
    if not kind:
        return "-"
    return KIND_NOUNS.get(kind, kind.replace("_", " ") + "s")
