"""Dates as Amazon writes them: ``2023-03-14T07:49:55+00:00``, ``2023-03-14 07:49:55 UTC``,
``14.03.2023 07:49:55 UTC``, ``03/14/2023``, ``14/03/2023``, ``2023/03/14``, ``22/02/19``.

Year-first and dotted forms are unambiguous. A slashed day/month pair is decided once per file:
from a value whose day is above 12, or from the settlement period (only one reading fits it). A
value that still reads two ways is refused rather than guessed. Times without a zone are UTC.
Only ASCII digits, and only years ``MIN_YEAR`` to ``MAX_YEAR`` (in UTC): anything else is a damaged
cell, and would overflow the date arithmetic of the period checks and the split by month.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from ml_connector.settlement.errors import AmbiguousFormat, BadValue
from ml_connector.settlement.numbers import shown

DMY = "day/month/year"
MDY = "month/day/year"

_PATTERN = re.compile(
    r"(\d{1,4})([-./])(\d{1,2})\2(\d{1,4})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|[A-Z]{3,4}|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE | re.ASCII,
)
MIN_YEAR, MAX_YEAR = 2000, 2999  # settlement reports exist since the 2000s
_ZONES = {
    "Z": 0, "UTC": 0, "GMT": 0, "PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5,
    "EST": -5, "EDT": -4, "CET": 1, "CEST": 2, "BST": 1, "IST": 5.5, "JST": 9, "AEST": 10, "AEDT": 11,
}  # fmt: skip


class DateParser:
    """Parses the dates of one file; remembers the day/month order once the file has shown it."""

    def __init__(self) -> None:
        self.order: str | None = None
        self.decided_by: tuple[int, str] | None = None
        self.cache: dict[str, date | None] = {}

    # -- learning the order -------------------------------------------------------------------
    def observe(self, text: str, line: int) -> None:
        """Learn the day/month order from a value that shows it (first or second part above 12)."""
        match = _PATTERN.fullmatch(text.strip())
        if match is None or len(match.group(1)) == 4 or match.group(2) == ".":
            return
        first, second = int(match.group(1)), int(match.group(3))
        found = DMY if first > 12 else MDY if second > 12 else None
        if found is None:
            return
        if self.order is None:
            self.order, self.decided_by = found, (line, text.strip())
        elif found != self.order:
            where, value = self.decided_by or (0, "")
            raise AmbiguousFormat(
                f"line {line}: date {text.strip()!r} is written {found} but {value!r} on line {where} "
                f"is written {self.order}; the file mixes date formats"
            )

    def try_order(self, text: str, order: str) -> datetime | None:
        """The value read with the given day/month order, or None if it is not a date that way."""
        match = _PATTERN.fullmatch(text.strip())
        if match is None:
            return None
        try:
            return self._build(match, order)
        except (ValueError, OverflowError):
            return None

    # -- parsing ------------------------------------------------------------------------------
    def parse_datetime(self, text: str, line: int, column: str) -> datetime:
        match = _PATTERN.fullmatch(text.strip())
        if match is None:
            raise BadValue(f"line {line}: {column} {shown(text.strip())} is not a date Amazon writes")
        try:
            return self._build(match, self._order_for(match, text, line, column))
        except (ValueError, OverflowError) as exc:
            raise BadValue(
                f"line {line}: {column} {shown(text.strip())} is not a valid date ({exc})"
            ) from None

    def parse_date(self, text: str, line: int, column: str = "posted-date") -> date | None:
        """A posted date (the calendar day in UTC); cached, since a file repeats few distinct days."""
        try:
            return self.cache[text]
        except KeyError:
            pass
        value = None if not text.strip() else self.parse_datetime(text, line, column).date()
        if len(self.cache) > 50_000:
            self.cache.clear()
        self.cache[text] = value
        return value

    def _order_for(self, match: re.Match[str], text: str, line: int, column: str) -> str:
        if len(match.group(1)) == 4 or match.group(2) == ".":
            return DMY  # year first, or dotted (always day first): no choice to make
        self.observe(text, line)
        if self.order is not None:
            return self.order
        if match.group(1) == match.group(3):
            return DMY  # 03/03: both readings are the same day
        raise AmbiguousFormat(
            f"line {line}: {column} {text.strip()!r} reads as day/month or month/day, and neither the "
            f"other dates nor the settlement period show which one the file uses"
        )

    @staticmethod
    def _build(match: re.Match[str], order: str) -> datetime:
        a, _sep, b, c, hh, mm, ss, zone = match.groups()
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif order == DMY:
            year, month, day = int(c), int(b), int(a)
        else:
            year, month, day = int(c), int(a), int(b)
        if len(c) == 2 and len(a) != 4:
            year += 2000
        elif len(a) != 4 and len(c) != 4:
            raise ValueError("the year must have 2 or 4 digits")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
        value = datetime(year, month, day, int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=_zone(zone))
        value = value.astimezone(UTC)  # cannot overflow: the year is far from 1 and 9999
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
        return value


def _zone(name: str | None) -> timezone:
    if not name:
        return UTC
    upper = name.upper()
    if upper in _ZONES:
        return timezone(timedelta(hours=_ZONES[upper]))
    if upper[0] in "+-":
        digits = upper[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return timezone(delta if upper[0] == "+" else -delta)
    raise ValueError(f"unknown time zone {name!r}")
