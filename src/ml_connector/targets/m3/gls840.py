"""The GLS840MI PARM record: a fixed-width line whose layout is tenant configuration.

M3's generic GL interface (GLS840) reads each ``AddBatchLine`` PARM according to the interface
(``INTN``) set up in the tenant. The default here is the documented public GL-journal layout
(interface GLUPLOAD): I1 | run number | group | DIVI | AIT1..AIT7 | CUCD | CUAM | ACDT | VTXT.
A tenant with another layout configures its own field positions instead of patching code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ml_connector.errors import ConfigurationError


@dataclass(frozen=True)
class ParmField:
    name: str  # record_id, run, group, DIVI, AIT1..AIT7, CUCD, CUAM, ACDT, VTXT
    start: int  # 1-based position, as layouts are written down
    length: int
    align: Literal["left", "right"] = "left"


@dataclass(frozen=True)
class ParmLayout:
    fields: tuple[ParmField, ...]
    record_id: str = "I1"
    decimal_separator: str = "."

    def __post_init__(self) -> None:
        taken: set[int] = set()
        for f in self.fields:
            span = set(range(f.start, f.start + f.length))
            if f.start < 1 or f.length < 1 or span & taken:
                raise ConfigurationError(
                    f"GLS840MI layout: field {f.name} overlaps another or has a bad position"
                )
            taken |= span
        if self.decimal_separator not in (".", ","):
            raise ConfigurationError("GLS840MI layout: decimal_separator must be '.' or ','")

    @property
    def width(self) -> int:
        return max(f.start + f.length - 1 for f in self.fields)

    def field(self, name: str) -> ParmField | None:
        return next((f for f in self.fields if f.name == name), None)

    def render(self, values: Mapping[str, str]) -> str:
        """One PARM record; a value longer than its field is an error, never silently cut."""
        record = [" "] * self.width
        for f in self.fields:
            value = self.record_id if f.name == "record_id" else values.get(f.name, "")
            if len(value) > f.length:
                raise ValueError(
                    f"{f.name} '{value}' is longer than its {f.length} positions in the GLS840MI record"
                )
            text = value.rjust(f.length) if f.align == "right" else value.ljust(f.length)
            record[f.start - 1 : f.start - 1 + f.length] = text
        return "".join(record).rstrip()

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> ParmLayout:
        """From configuration: {"record_id": "I1", "decimal_separator": ".", "fields": [{"name", "start", "length", "align"}]}."""
        try:
            # Configuration is untyped TOML: a wrong shape raises KeyError/TypeError, reported below.
            entries: Any = config["fields"]
            fields = tuple(
                ParmField(str(f["name"]), int(f["start"]), int(f["length"]), f.get("align", "left"))
                for f in entries
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"GLS840MI layout: every field needs name, start and length ({exc})"
            ) from None
        return cls(fields, str(config.get("record_id", "I1")), str(config.get("decimal_separator", ".")))


def _documented_fields() -> tuple[ParmField, ...]:
    fields = [
        ParmField("record_id", 1, 2),
        ParmField("run", 3, 9),
        ParmField("group", 12, 8),
        ParmField("DIVI", 20, 3),
    ]
    fields += [ParmField(f"AIT{n}", 23 + 10 * (n - 1), 10) for n in range(1, 8)]
    fields += [
        ParmField("CUCD", 93, 3),
        ParmField("CUAM", 96, 17, "right"),
        ParmField("ACDT", 113, 8),
        ParmField("VTXT", 121, 40),
    ]
    return tuple(fields)


DOCUMENTED_LAYOUT = ParmLayout(_documented_fields())

_KEY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def batch_key(document_key: str, attempt: int, *, prefix: str = "ML", length: int = 10) -> str:
    """KEY1 of the interface batch: short (the field's length is not published; 10 is safe), derived
    from the document key, with a last character that moves on when an earlier attempt's batch is
    still in the interface file (GLS840MI cannot delete or read it)."""
    if not 0 <= attempt < len(_KEY_ALPHABET):
        raise ValueError("too many abandoned GLS840MI batches for one journal")
    digest = hashlib.sha256(document_key.encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    body = ""
    for _ in range(length - len(prefix) - 1):
        number, rest = divmod(number, len(_KEY_ALPHABET))
        body += _KEY_ALPHABET[rest]
    return prefix + body + _KEY_ALPHABET[attempt]


def run_number(document_key: str, length: int = 9) -> str:
    """The 9-digit run/reference number of the record, derived from the key."""
    digest = hashlib.sha256(b"run:" + document_key.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**length).zfill(length)


def format_amount(amount_text: str, separator: str) -> str:
    return amount_text.replace(".", separator) if separator != "." else amount_text


def dimension_slots(dimensions: Sequence[tuple[str, str]], mapping: Mapping[str, str]) -> dict[str, str]:
    """Journal dimensions to AIT2..AIT7: by the configured mapping, or by name when already an AIT."""
    slots: dict[str, str] = {}
    for name, value in dimensions:
        slot = mapping.get(name) or (
            name.upper() if name.upper() in {f"AIT{n}" for n in range(2, 8)} else None
        )
        if slot:
            slots[slot] = value
    return slots
