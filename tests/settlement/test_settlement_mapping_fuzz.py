"""The mapping loader never crashes (issue 10, point 7): any file ends in a mapping or one
ConfigurationError naming the file and what to fix.

Two properties: generated values put in place of any table or key of the shipped mapping (as a parsed
document, for every type TOML has), and the shipped mapping's text mutated line by line and byte by
byte (as a file). A mapping that loads must also resolve keys and build a journal. The inputs that
used to end in tracebacks are kept as regression tests.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.errors import ConfigurationError
from ml_connector.settlement.journal_builder import build_journals
from ml_connector.settlement.mapping import AccountMapping, load_mapping, parse_mapping
from ml_connector.settlement.reader import open_report

from .settlement_helpers import SMALL_SAMPLE

# More for a deeper search: ML_CONNECTOR_FUZZ_EXAMPLES=5000 python -m pytest this file
FUZZ_EXAMPLES = int(os.environ.get("ML_CONNECTOR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT_TEXT = resources.files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
DEFAULT = tomllib.loads(DEFAULT_TEXT)
SAMPLE = SMALL_SAMPLE.read_bytes()
RUNS: Counter[str] = Counter()

TOML_VALUES = st.recursive(
    st.one_of(
        st.text(max_size=8), st.integers(), st.integers(-(10**40), 10**40), st.floats(), st.booleans(),
        st.dates(), st.datetimes(), st.times(),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
NASTY_LITERALS = [
    "1.5", "inf", "nan", "-inf", "1" * 5000, "true", "[]", "{}", '"x"', "''", "[1, [2, [3]]]", '{a = 1}',
    "1979-05-27T07:32:00Z", '"\\u0000"', "0x_1", '"""', "[" * 50 + "]" * 50, '"' + "é" * 10 + '"',
]  # fmt: skip


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every place a value sits in a parsed document (tables, arrays of tables, keys)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data[:3]):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(DEFAULT)


def _replaced(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)  # type: ignore[call-overload]
    copy[path[0]] = _replaced(copy[path[0]], path[1:], value)
    return copy


def _use(mapping: AccountMapping) -> None:
    """A mapping that loaded must be usable: resolve, suggest, build."""
    for key in (("Order", "ItemPrice", "Principal"), ("x", "y", "z"), ("", "", "")):
        mapping.resolve(key, "Amazon.ca")
        mapping.suggest_rule(key, -1)
    for mode in ("summary", "invoice"):
        build_journals(open_report(SAMPLE), mapping, mode=mode, split_by_period=True)


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), TOML_VALUES), min_size=1, max_size=3))
def test_generated_values_anywhere_end_in_a_mapping_or_a_configuration_error(changes: list) -> None:
    RUNS["mapping documents"] += 1
    data: object = DEFAULT
    for path, value in changes:
        try:
            data = _replaced(data, path, value)
        except (IndexError, KeyError, TypeError):
            continue  # an earlier change removed this place
    try:
        mapping = parse_mapping(data, "fuzz.toml")  # type: ignore[arg-type]
    except ConfigurationError as exc:
        assert str(exc).startswith("fuzz.toml") and "\n" not in str(exc)
        return
    _use(mapping)


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    lines = DEFAULT_TEXT.encode().split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "value", "drop", "double", "bytes", "text"]))
        if kind == "value" and b"=" in lines[i]:
            key = lines[i].split(b"=", 1)[0]
            lines[i] = key + b"= " + draw(st.sampled_from(NASTY_LITERALS)).encode()
        elif kind == "drop":
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif kind == "bytes":
            lines[i] = lines[i] + draw(st.binary(min_size=1, max_size=3))
        else:
            lines[i] = draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")
        lines = lines or [b""]
    return b"\n".join(lines)


@FUZZ
@given(data=mutated_text())
def test_mutated_mapping_files_end_in_a_mapping_or_a_configuration_error(
    data: bytes, tmp_path_factory
) -> None:  # noqa: ANN001
    RUNS["mapping files"] += 1
    path = tmp_path_factory.mktemp("m") / "mapping.toml"
    path.write_bytes(data)
    try:
        mapping = load_mapping(path)
    except ConfigurationError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    _use(mapping)


# -- regression inputs ---------------------------------------------------------------------------

ACCOUNTS = b'[accounts]\nbank = "1020"\nclearing = "1290"\nreceivable = "1210"\n'
REGRESSIONS = {
    "not UTF-8": (b"[accounts]\nbank = \"caf\xe9\"\n", "not UTF-8"),
    "deeply nested TOML": (b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
    "deeply nested inline tables": (b"x = " + b"{a=" * 5_000 + b"1" + b"}" * 5_000 + b"\n", "nested too deeply"),
    "receivable_transaction_types = 1.5": (
        ACCOUNTS + b"[invoice_mode]\nreceivable_transaction_types = 1.5\n", "receivable_transaction_types must be a list",
    ),
    "an integer of thousands of digits": (b"x = " + b"1" * 5000 + b"\n", "thousands of digits"),
    "accounts = 5": (DEFAULT_TEXT.encode().replace(b"[accounts]", b"accounts = 5\n[not_accounts]"), "accounts"),
    "rule = 5": (b"rule = 5\n" + DEFAULT_TEXT.encode().replace(b"[[rule]]", b"[[not_rule]]"), "rule"),
    "a rule account as a list": (
        ACCOUNTS + b'[[rule]]\ntransaction_type="*"\namount_type="*"\namount_description="*"\naccount=["1020"]\ncategory="x"\n', "rule #1 field account must be a string",
    ),
    "dimensions as a string": (ACCOUNTS + b'[marketplaces."Amazon.zz"]\ndimensions = "x"\n', "dimensions must be a table"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression_files_are_configuration_errors(name: str, tmp_path: Path) -> None:
    data, words = REGRESSIONS[name]
    path = tmp_path / "mapping.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigurationError, match=words) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_directory_given_as_the_mapping_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory, not the mapping file; give the path"):
        load_mapping(tmp_path)


def test_an_unreadable_mapping_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the mapping file .*check the path"):
        load_mapping(tmp_path / "missing.toml")


def test_a_single_receivable_type_string_is_taken_as_a_list() -> None:
    data = {
        **DEFAULT,
        "invoice_mode": {"receivable_categories": "sales", "receivable_transaction_types": "Order"},
    }
    mapping = parse_mapping(data)
    assert mapping.receivable_categories == frozenset({"sales"})  # not {"s", "a", "l", "e"}
    assert mapping.receivable_transaction_types == ("Order",)


def test_the_cli_says_one_line_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ml_connector.cli.app import app

    path = tmp_path / "mapping.toml"
    path.write_bytes(REGRESSIONS["receivable_transaction_types = 1.5"][0])
    result = CliRunner().invoke(app, ["settlement", "show", "--mapping", str(path), str(SMALL_SAMPLE)])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "receivable_transaction_types" in result.stderr


def test_fuzz_inputs_were_run(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nmapping fuzz inputs run: {dict(RUNS)}, unexpected exceptions: 0")


def test_a_key_with_a_line_break_is_named_on_one_line() -> None:
    """Found by the property above (ML_CONNECTOR_FUZZ_EXAMPLES=2000): a rule {"\\n" = ""}."""
    data = {**DEFAULT, "rule": [{"\n": ""}], "accounts": {**DEFAULT["accounts"], "x\ny": []}}
    for broken in ({**DEFAULT, "rule": [{"\n": ""}]}, {**DEFAULT, "accounts": {"bank\n": []}}, data):
        with pytest.raises(ConfigurationError) as caught:
            parse_mapping(broken, "fuzz.toml")
        assert "\n" not in str(caught.value) and "\\n" in str(caught.value), str(caught.value)
