"""Amounts as Amazon writes them in the seller's locale: ``1141.18``, ``1141,18``, ``-1.234,56``.

The convention (decimal point or decimal comma) is decided once per file, from the values that show
it unambiguously. A value such as ``1.234`` reads as 1.234 or as 1234 depending on the convention; if
the file never shows which one it uses, such a value is refused rather than guessed.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ml_connector.settlement.errors import AmbiguousFormat, BadValue

DOT = "decimal point"  # 1,234.56
COMMA = "decimal comma"  # 1.234,56
AMBIGUOUS = "ambiguous"

_SPACES = (" ", "\u00a0", "\u202f", "'")  # group separators that never mean a decimal
_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?")


def evidence(text: str, exponent: int) -> str | None:
    """What one amount says about the file's convention: DOT, COMMA, AMBIGUOUS or None (nothing).

    ``exponent`` is the currency's number of decimals: in JPY a separator is always a group one.
    """
    s = text.strip().lstrip("+-")
    has_dot, has_comma = "." in s, "," in s
    if has_dot and has_comma:
        return COMMA if s.rfind(",") > s.rfind(".") else DOT
    if not (has_dot or has_comma):
        return None
    sep = "." if has_dot else ","
    if s.count(sep) > 1:  # several occurrences: it can only group thousands
        return COMMA if sep == "." else DOT
    decimals = len(s) - s.index(sep) - 1
    if decimals == 3 and exponent != 3:
        if exponent == 0:  # no decimals in this currency: the separator groups thousands
            return COMMA if sep == "." else DOT
        return AMBIGUOUS
    return DOT if sep == "." else COMMA


class AmountParser:
    """Parses the amounts of one file under one convention, decided from the file itself."""

    def __init__(self, currency_exponent: int) -> None:
        self.exponent = currency_exponent
        self.convention: str | None = None
        self.decided_by: tuple[int, str] | None = None  # (line, value) that showed the convention

    def observe(self, text: str, line: int) -> None:
        """Learn from a value (used on the look-ahead window before any value is parsed)."""
        found = evidence(text, self.exponent)
        if found in (DOT, COMMA):
            if self.convention is None:
                self.convention, self.decided_by = found, (line, text.strip())
            elif found != self.convention:
                raise self._conflict(text, line)

    def parse(self, text: str, line: int, column: str = "amount") -> Decimal:
        s = text.strip()
        if not s:
            raise BadValue(f"line {line}: {column} is empty")
        if self.convention is DOT and "," not in s and " " not in s:
            cleaned = s
        else:
            cleaned = self._clean(s, line, column)
        if _PLAIN.fullmatch(cleaned) is None:
            raise BadValue(f"line {line}: {column} {text.strip()!r} is not an amount")
        try:
            return Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern already refused it
            raise BadValue(f"line {line}: {column} {text.strip()!r} is not an amount") from None

    def _clean(self, s: str, line: int, column: str) -> str:
        for space in _SPACES:
            if space in s:
                s = s.replace(space, "")
        found = evidence(s, self.exponent)
        if found is AMBIGUOUS:
            if self.convention is None:
                as_dot, as_comma = s.replace(",", ""), s.replace(".", "").replace(",", ".")
                raise AmbiguousFormat(
                    f"line {line}: {column} {s!r} is {as_dot} with a decimal point but {as_comma} with a "
                    f"decimal comma, and no amount in the file shows which one it uses"
                )
        elif found is not None:
            if self.convention is None:
                self.convention, self.decided_by = found, (line, s)
            elif found != self.convention:
                raise self._conflict(s, line)
        if self.convention is COMMA:
            return s.replace(".", "").replace(",", ".")
        return s.replace(",", "")

    def _conflict(self, text: str, line: int) -> BadValue:
        where, value = self.decided_by or (0, "")
        return AmbiguousFormat(
            f"line {line}: amount {text.strip()!r} contradicts the file's {self.convention} "
            f"(shown by {value!r} on line {where}); the file mixes number formats"
        )
