"""How Amazon writes numbers and dates in a settlement report, per seller locale.

Amazon writes the V2 flat file in the seller's Seller Central locale. These specs are what the writer
produces (so the sandbox and the tests can make files like the real ones); the reader does not use
them: it detects the conventions from the file itself (see ``numbers`` and ``dates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from ml_connector.model.money import currency_exponent


@dataclass(frozen=True, slots=True)
class LocaleSpec:
    decimal: str  # the decimal separator
    group: str  # the thousands separator ("" = no grouping)
    datetime_format: str  # settlement/deposit dates and posted-date-time
    date_format: str  # posted-date


NBSP = "\u00a0"

LOCALES: dict[str, LocaleSpec] = {
    "en_US": LocaleSpec(".", "", "%Y-%m-%d %H:%M:%S UTC", "%m/%d/%Y"),
    "en_CA": LocaleSpec(".", ",", "%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%d"),
    "en_GB": LocaleSpec(".", ",", "%d/%m/%Y %H:%M:%S UTC", "%d/%m/%Y"),
    "de_DE": LocaleSpec(",", ".", "%d.%m.%Y %H:%M:%S UTC", "%d.%m.%Y"),
    "fr_FR": LocaleSpec(",", NBSP, "%d/%m/%Y %H:%M:%S UTC", "%d/%m/%Y"),
    "ja_JP": LocaleSpec(".", ",", "%Y/%m/%d %H:%M:%S UTC", "%Y/%m/%d"),
    # The plain form: what the real V1 files use; handy as the "plain twin" in tests.
    "iso": LocaleSpec(".", "", "%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%d"),
}


def locale_spec(locale: str) -> LocaleSpec:
    try:
        return LOCALES[locale]
    except KeyError:
        raise ValueError(f"unknown locale {locale!r}; known: {', '.join(sorted(LOCALES))}") from None


def format_amount(amount: Decimal, currency: str, spec: LocaleSpec) -> str:
    """The amount at the currency's precision, in the locale's separators (``-1.234,56``)."""
    exponent = currency_exponent(currency)
    quantized = amount.quantize(Decimal(1).scaleb(-exponent))
    text = format(abs(quantized), ",f" if spec.group else "f")
    # Python groups with "," and uses "." as decimal point; swap via a placeholder.
    text = text.replace(",", "\0").replace(".", spec.decimal).replace("\0", spec.group)
    return f"-{text}" if quantized < 0 else text


def format_datetime(value: datetime, spec: LocaleSpec) -> str:
    """Amazon writes these in UTC; an aware datetime is converted, a naive one is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(spec.datetime_format)


def format_date(value: date, spec: LocaleSpec) -> str:
    return value.strftime(spec.date_format)
