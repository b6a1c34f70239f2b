"""Amounts as Amazon writes them in the seller's locale: ``1141.18``, ``1141,18``, ``-1.234,56``.

The convention (decimal point or decimal comma) is decided once per file, from the values that show
it unambiguously. A value such as ``1.234`` reads as 1.234 or as 1234 depending on the convention; if
the file never shows which one it uses, such a value is refused rather than guessed.

An amount has digits on both sides of its decimal separator (``0.50``, never ``.5`` or ``5.``: no
Amazon locale writes those, so they mean an edited or damaged file), ASCII digits only, at most
``MAX_INTEGER_DIGITS`` before the separator and ``MAX_DECIMALS`` after it. Within those bounds every
sum the builder makes of up to ten million lines is exact in Decimal's default 28 digits.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ml_connector.settlement.errors import AmbiguousFormat, BadValue

DOT = "decimal point"  # 1,234.56
COMMA = "decimal comma"  # 1.234,56
AMBIGUOUS = "ambiguous"

_SPACES = (" ", "\u00a0", "\u202f", "'")  # group separators that never mean a decimal
_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
MAX_INTEGER_DIGITS = 15  # a quadrillion: far beyond any payout, small enough for exact sums
MAX_DECIMALS = 6  # Amazon writes the currency's 0, 2 or 3 decimals


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
        if self.convention is DOT and s.isascii() and "," not in s and " " not in s and "'" not in s:
            cleaned = s
        else:
            cleaned = self._clean(s, line, column)
        if _PLAIN.fullmatch(cleaned) is None:
            hint = ""
            if re.fullmatch(r"[+-]?(?:[0-9]+\.|\.[0-9]+)", cleaned):
                hint = " (digits are missing on one side of the decimal separator; Amazon writes 0.50, 5.00)"
            raise BadValue(f"line {line}: {column} {shown(s)} is not an amount{hint}")
        integer, _point, fraction = cleaned.lstrip("+-").partition(".")
        if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS or len(fraction) > MAX_DECIMALS:
            raise BadValue(
                f"line {line}: {column} {shown(s)} is out of range: an amount has at most "
                f"{MAX_INTEGER_DIGITS} digits before the decimal separator and {MAX_DECIMALS} after it"
            )
        try:
            return Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern already refused it
            raise BadValue(f"line {line}: {column} {shown(s)} is not an amount") from None

    def _clean(self, s: str, line: int, column: str) -> str:
        for space in _SPACES:
            if space in s:
                s = s.replace(space, "")
        found = evidence(s, self.exponent)
        if found is AMBIGUOUS:
            if self.convention is None:
                as_dot, as_comma = s.replace(",", ""), s.replace(".", "").replace(",", ".")
                raise AmbiguousFormat(
                    f"line {line}: {column} {shown(s)} is {as_dot[:40]} with a decimal point but {as_comma[:40]} with a "
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
            f"line {line}: amount {shown(text.strip())} contradicts the file's {self.convention} "
            f"(shown by {shown(value)} on line {where}); the file mixes number formats"
        )


def shown(text: str, limit: int = 40) -> str:
    """A cell as an error message quotes it: repr, cut short (a damaged cell can be megabytes)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"
