from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.model.money import CurrencyMismatch, Money, total


def test_money_keeps_decimal_and_currency():
    amount = Money.of("1141.18", "cad")
    assert amount.amount == Decimal("1141.18")
    assert amount.currency == "CAD"
    assert str(amount) == "1141.18 CAD"


def test_money_refuses_float():
    with pytest.raises(TypeError):
        Money(1.1, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["", "US", "USDX", "U$D", None])
def test_money_refuses_bad_currency(code):
    with pytest.raises(ValueError):
        Money(Decimal(1), code)  # type: ignore[arg-type]


def test_money_refuses_mixing_currencies():
    with pytest.raises(CurrencyMismatch):
        Money.of("1", "USD") + Money.of("1", "CAD")
    with pytest.raises(CurrencyMismatch):
        _ = Money.of("1", "USD") < Money.of("2", "EUR")


def test_quantize_follows_currency_minor_units():
    assert Money.of("1.005", "USD").as_string() == "1.00"  # banker's rounding
    assert Money.of("1.015", "USD").as_string() == "1.02"
    assert Money.of("1500.4", "JPY").as_string() == "1500"
    assert Money.of("1.2345", "KWD").as_string() == "1.234"


def test_total_of_nothing_is_zero_in_that_currency():
    assert total([], "GBP") == Money.zero("GBP")


amounts = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@given(st.lists(amounts, max_size=50))
def test_sum_is_exact_and_order_free(values):
    money = [Money(v, "EUR") for v in values]
    assert total(money, "EUR").amount == sum(values, Decimal(0))
    assert total(list(reversed(money)), "EUR") == total(money, "EUR")
