"""Running totals of a settlement's lines per (key, marketplace, posted day): all the journal
builder needs from a file, in memory that depends on the vocabulary, never on the number of rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

_ZERO = Decimal(0)

# (transaction_type, amount_type, amount_description, marketplace_name, posted_date), raw cells
SumKey = tuple[str, str, str, str, date | None]


@dataclass
class LineSums:
    currency: str
    sums: dict[SumKey, list] = field(default_factory=dict)  # key -> [amount, lines, first line]
    foreign: dict[str, list] = field(default_factory=dict)  # currency -> [amount, lines, some lines]

    @property
    def count(self) -> int:
        """Every line, in any currency."""
        return sum(e[1] for e in self.sums.values()) + sum(e[1] for e in self.foreign.values())

    @property
    def total(self) -> Decimal:
        """The sum of the lines in the settlement's currency."""
        return sum((e[0] for e in self.sums.values()), _ZERO)

    def add(self, tt: str, at: str, ad: str, amount: Decimal, posted: date | None, market: str, cur: str,
            line: int) -> None:  # fmt: skip
        """One line (the general path; the reader's hot loop inlines the same steps)."""
        if cur and cur != self.currency and cur.strip() and cur.strip().upper() != self.currency:
            entry = self.foreign.setdefault(cur.strip().upper(), [_ZERO, 0, []])
            entry[0] += amount
            entry[1] += 1
            if len(entry[2]) < 5:
                entry[2].append(line)
            return
        key = (tt, at, ad, market, posted)
        row = self.sums.get(key)
        if row is None:
            self.sums[key] = [amount, 1, line]
        else:
            row[0] += amount
            row[1] += 1

    def add_records(self, records: Iterable[tuple]) -> None:
        add = self.add
        for tt, at, ad, amount, posted, market, cur, line, _cells in records:
            add(tt, at, ad, amount, posted, market, cur, line)
