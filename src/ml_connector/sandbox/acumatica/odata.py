"""The $filter subset the Acumatica contract API understands (OData v3 URI syntax): eq ne gt ge lt
le, and/or/not, parentheses, substringof/startswith/endswith, linked paths with ``/``, and the
literals 'text', numbers, true/false/null, datetimeoffset'…', date'…', guid'…'."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<typed>(?:datetimeoffset|datetime|date|guid)'[^']*')"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<num>-?\d+(?:\.\d+)?[mMdD]?)"
    r"|(?P<punct>[(),])"
    r"|(?P<name>[A-Za-z_][\w./]*))"
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith"}


class FilterError(ValueError):
    """The $filter could not be parsed (Acumatica answers 400/500 for these)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError(f"cannot parse $filter near {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        result.append((kind, match.group(kind)))
        position = match.end()
    return result


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "num":
        return Decimal(text.rstrip("mMdD"))
    prefix, _, rest = text.partition("'")
    value = rest[:-1]
    if prefix in ("datetimeoffset", "datetime"):
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if prefix == "date":
        return date.fromisoformat(value)
    return value


def resolve(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _as_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring a stored value to the literal's type; a stored date without an offset is UTC (an
    aware literal against a naive value raised a TypeError that made every comparison False)."""
    if isinstance(right, date) and isinstance(left, str):
        left = _as_datetime(left) or left
    if isinstance(left, datetime) and left.tzinfo is None:
        left = left.replace(tzinfo=UTC)
    if isinstance(right, date) and not isinstance(right, datetime) and isinstance(left, datetime):
        left = left.date()
    if isinstance(right, Decimal) and isinstance(left, int | float) and not isinstance(left, bool):
        left = Decimal(str(left))
    return left, right


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("unexpected end of $filter")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        kind, value = self.take()
        if value != text:
            raise FilterError(f"expected {text!r}, found {value!r}")

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if (token := self.peek()) is not None:
            raise FilterError(f"unexpected {token[1]!r} in $filter")
        return predicate

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (token := self.peek()) and token[1] == "or":
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (token := self.peek()) and token[1] == "and":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Predicate:
        token = self.peek()
        if token and token[1] == "not":
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if token and token[1] == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def operand(self) -> Callable[[Mapping[str, Any]], Any]:
        kind, text = self.take()
        if kind == "name" and text in _FUNCTIONS:
            self.expect("(")
            first = self.operand()
            self.expect(",")
            second = self.operand()
            self.expect(")")
            if text == "substringof":
                return lambda r: str(first(r) or "") in str(second(r) or "")
            if text == "startswith":
                return lambda r: str(first(r) or "").startswith(str(second(r) or ""))
            return lambda r: str(first(r) or "").endswith(str(second(r) or ""))
        if kind == "name" and text in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[text]
            return lambda r: constant
        if kind == "name":
            return lambda r: resolve(r, text)
        if kind in ("str", "num", "typed"):
            constant = _literal(kind, text)
            return lambda r: constant
        raise FilterError(f"unexpected {text!r} in $filter")

    def comparison(self) -> Predicate:
        left = self.operand()
        token = self.peek()
        if token is None or token[1] not in _COMPARE:
            return lambda r: bool(left(r))
        operator = self.take()[1]
        right = self.operand()

        def compare(record: Mapping[str, Any]) -> bool:
            a, b = _coerce(left(record), right(record))
            if operator == "eq":
                return a == b
            if operator == "ne":
                return a != b
            if a is None or b is None:
                return False
            try:
                return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[operator]
            except TypeError:
                return False

        return compare


def parse_filter(text: str) -> Predicate:
    return _Parser(text).parse()


def filter_fields(text: str) -> set[str]:
    """The top-level fields a $filter names (Acumatica returns them even when not $select-ed)."""
    return {
        value.split("/")[0]
        for kind, value in _tokens(text)
        if kind == "name"
        and value not in _COMPARE | _FUNCTIONS | {"and", "or", "not", "true", "false", "null"}
    }
