"""Strict configuration: every bad input ends in one ConfigurationError naming the file, the key or
line and the fix; never another exception, never pydantic's words (issue 10 point 6, issue 12)."""

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ml_connector.config import load_config, parse_config
from ml_connector.errors import ConfigurationError

GOOD = """\
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
split_by_period = true

[connections.m3]
company = "100"
"""

PYDANTIC_WORDS = ("Extra inputs", "Input should", "Value error", "validation error", "pydantic", "type=")


def refused(text: str, source: str = "deploy.toml") -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(text, source=source)
    message = str(caught.value)
    assert message.startswith(source), message
    assert "\n" not in message, message
    assert not any(words in message for words in PYDANTIC_WORDS), message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("split_by_period = true", 'split_by_period = "yes"'),
            "deploy.toml:5: connections[0].split_by_period must be true or false",
        ),
        (
            GOOD.replace("split_by_period = true", "split_by_period = 1"),
            "deploy.toml:5: connections[0].split_by_period must be true or false",
        ),
        ("store = 5\n" + GOOD, "store must be a table"),
        ('store = "url"\n' + GOOD, "store must be a table"),
        ("[store]\nurl = 5\n" + GOOD, "[store] url must be text"),
        ("[store]\nuri = 'x'\n" + GOOD, "did you mean 'url'"),
        (
            GOOD + '[connections.cadence]\norders = "9999999999d"\n',
            "deploy.toml:10: connections[0].cadence.orders: '9999999999d' is out of range",
        ),
        (GOOD + '[connections.cadence]\norders = "0s"\n', "between 1s and 366d"),
        (GOOD + '[connections.cadence]\norders = "40000d"\n', "between 1s and 366d"),
        (GOOD + '[connections.cadence]\nordrs = "15m"\n', "did you mean 'orders'"),
        ("time_scale = inf\n" + GOOD, "deploy.toml:1: time_scale must be a finite number"),
        ("time_scale = nan\n" + GOOD, "time_scale must be a finite number"),
        ("time_scale = 0\n" + GOOD, "time_scale must be above 0"),
        ("time_scale = " + "9" * 5000 + "\n" + GOOD, "deploy.toml"),
        ("time_scale = " + "9" * 400 + "\n" + GOOD, "time_scale must be"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n" + GOOD, "deploy.toml"),
        ("", "no connections"),
        ("# only comments\n", "no connections"),
        (GOOD.replace('name = "us"\n', ""), "deploy.toml:1: connections[0].name is missing"),
        (
            GOOD + '\n[[connections]]\nmarketplaces = ["ATVPDKIKX0DER"]\nerp = "m3"\n[connections.m3]\n',
            "deploy.toml:10: connections[1].name is missing",
        ),
        (GOOD.replace("split_by_period", "split_by_perod"), "did you mean 'split_by_period'"),
        (
            GOOD.replace('company = "100"', 'company = "100"\nalias_type = "three"'),
            "deploy.toml:9: connections[0].m3: alias_type must be a whole number",
        ),
        (GOOD.replace('company = "100"', 'company = "100"\nwarehous = "A"'), "did you mean 'warehouse'"),
        (
            GOOD.replace('company = "100"', 'company = "100"\nmax_concurrent = 0'),
            "max_concurrent must be at least 1",
        ),
        (
            GOOD.replace('erp = "m3"', 'erp = "acumatica"').replace(
                '[connections.m3]\ncompany = "100"', "[connections.acumatica]\nbase_currency = 5"
            ),
            "base_currency must be text",
        ),
        (
            GOOD.replace('erp = "m3"', 'erp = "acumatica"').replace(
                '[connections.m3]\ncompany = "100"', '[connections.acumatica]\nendpoint_version = "banana"'
            ),
            "endpoint_version looks like 24.200.001",
        ),
        (GOOD.replace('"ATVPDKIKX0DER"', '"BOGUS"'), "unknown Amazon marketplace id(s): BOGUS"),
        (GOOD.replace('erp = "m3"', 'erp = "sap"'), "connections[0].erp must be one of 'm3' or 'acumatica'"),
        (GOOD + "start = 2026-13-01\n", "deploy.toml"),
        (GOOD.replace("split_by_period = true", 'start = "soon"'), "must be a date"),
        (GOOD.replace("split_by_period = true", "connections = 3"), "unknown key 'connections'"),
        ("connections = 3\n", "connections must be a list"),
        ("connections = [1]\n", "connections[0] must be a table"),
    ],
)
def test_each_bad_input_is_one_line_naming_the_place_and_the_fix(text, expected):
    assert expected in refused(text)


def test_a_non_utf8_file_names_its_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigurationError, match=r"config.toml:9: not UTF-8 text"):
        load_config(path)


def test_a_directory_given_as_the_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_config(tmp_path)


def test_the_good_file_still_loads():
    config = parse_config(GOOD)
    assert config.connection("us").split_by_period is True


_keys = st.sampled_from(
    [
        "name",
        "marketplaces",
        "erp",
        "mode",
        "split_by_period",
        "start",
        "cadence",
        "m3",
        "acumatica",
        "store",
        "url",
        "time_scale",
        "connections",
        "orders",
        "company",
        "alias_type",
        "sku_map",
        "flows",
        "x",
    ]
)
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=12),
    st.sampled_from(["m3", "acumatica", "ATVPDKIKX0DER", "15m", "0s", "9999999999d", "summary", "100"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


def _toml_value(value) -> str:  # noqa: ANN001 - a generated value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if value != value
            else ("inf" if value > 0 else "-inf")
            if value in (float("inf"), float("-inf"))
            else repr(value)
        )
    if isinstance(value, str):
        return (
            '"'
            + value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
            .replace("\x0b", "\\u000b")
            .replace("\x0c", "\\f")
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(_keys, _values, max_size=5),
    st.lists(st.dictionaries(_keys, _values, max_size=6), max_size=2),
)
@example({"store": 5}, [])
@example({"store": "url"}, [])
@example(
    {"time_scale": float("inf")}, [{"name": "a", "marketplaces": ["ATVPDKIKX0DER"], "erp": "m3", "m3": {}}]
)
@example(
    {},
    [
        {
            "name": "a",
            "marketplaces": ["ATVPDKIKX0DER"],
            "erp": "m3",
            "m3": {},
            "cadence": {"orders": "9999999999d"},
        }
    ],
)
@example({}, [{"name": "a", "marketplaces": ["ATVPDKIKX0DER"], "erp": "m3", "m3": {"alias_type": 10**40}}])
@example({}, [{"name": "a", "marketplaces": ["ATVPDKIKX0DER"], "erp": "m3", "m3": {"sku_map": [1]}}])
@example({}, [{"name": "a", "marketplaces": ["ATVPDKIKX0DER"], "erp": "m3", "m3": {"gls840_layout": 5}}])
@example(
    {},
    [
        {
            "name": "a",
            "marketplaces": ["ATVPDKIKX0DER"],
            "erp": "acumatica",
            "acumatica": {"ar_control_accounts": 5},
        }
    ],
)
def test_any_generated_toml_ends_in_a_config_or_a_configuration_error(top, connections):
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    text = "\n".join(lines) + "\n"
    for connection in connections:
        text += "[[connections]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in connection.items())
    try:
        parse_config(text, source="gen.toml")
    except ConfigurationError as exc:
        message = str(exc)
        assert message.startswith("gen.toml"), message
        assert not any(words in message for words in PYDANTIC_WORDS), message
