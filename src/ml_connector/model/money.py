"""Money: a Decimal amount that always carries its ISO 4217 currency.

Amounts are never floats. Arithmetic between two currencies is an error, not a silent conversion:
a settlement in CAD and a journal line in USD must never be added together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies Amazon marketplaces settle in; two is the default.
_EXPONENTS: dict[str, int] = {"JPY": 0, "KRW": 0, "CLP": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def parse_currency(code: str) -> str:
    """Return a normalised ISO 4217 code or raise ValueError naming the bad value."""
    normalised = (code or "").strip().upper()
    if len(normalised) != 3 or not (normalised.isascii() and normalised.isalpha()):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    return normalised


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits for the currency (2 for USD, 0 for JPY)."""
    return _EXPONENTS.get(currency, 2)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            if isinstance(self.amount, float):
                raise TypeError("Money never takes a float; pass a Decimal or a string")
            try:
                object.__setattr__(self, "amount", Decimal(self.amount))
            except InvalidOperation as exc:
                raise ValueError(f"not an amount: {self.amount!r}") from exc
        if not self.amount.is_finite():
            raise ValueError(f"not a finite amount: {self.amount!r}")
        object.__setattr__(self, "currency", parse_currency(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        return cls(Decimal(amount) if not isinstance(amount, Decimal) else amount, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def quantized(self) -> Money:
        """Rounded to the currency's minor unit (banker's rounding, as ledgers expect)."""
        exp = Decimal(1).scaleb(-currency_exponent(self.currency))
        return Money(self.amount.quantize(exp, rounding=ROUND_HALF_EVEN), self.currency)

    def as_string(self) -> str:
        """The amount as a plain decimal string at the currency's precision (no exponent)."""
        return format(self.quantized().amount, "f")

    def __str__(self) -> str:
        return f"{self.as_string()} {self.currency}"


def total(amounts: list[Money] | tuple[Money, ...], currency: str) -> Money:
    """Sum of amounts in one currency; an empty list sums to zero in that currency."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
