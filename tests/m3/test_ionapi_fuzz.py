"""The .ionapi loader never crashes and never echoes a secret (issue 10, points 7 and 8).

Generated JSON values in place of any key of a real-shaped .ionapi document, and the document's
text mutated byte by byte: every input ends in an IonApiFile or one ConfigurationError naming the
file and the key, and no secret of the document ever appears in the message.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.errors import ConfigurationError
from ml_connector.targets.m3 import IonApiFile, load_ionapi, parse_ionapi

from .test_ionapi import REFERENCE_EXAMPLE

# More for a deeper search: ML_CONNECTOR_FUZZ_EXAMPLES=5000 python -m pytest this file
FUZZ_EXAMPLES = int(os.environ.get("ML_CONNECTOR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRETS = [REFERENCE_EXAMPLE[key] for key in ("cs", "sask", "saak", "ci")]
RUNS: Counter[str] = Counter()

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**40), 10**40) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
URLS = st.sampled_from([
    "https://[", "http://[::1", "https://host:99999/", "https://host:x/", "http://ionapi.example.test",
    "http://127.0.0.1:8702", "http://[::1]:80/T/as/", "ftp://host/", "https://", "//host/", "https:host",
    "https://ionapi.example.test/T/as/", "http://127.9.9.9/T/as/", "http://localhost/T/as/",
    "http://10.0.0.1/T/as/", "https://\u00e9xample.test/T/as/", " https://x.test/T/as/ ", "javascript:alert(1)",
])  # fmt: skip


def _check(outcome: object) -> None:
    if isinstance(outcome, ConfigurationError):
        message = str(outcome)
        assert "\n" not in message
        assert not any(secret in message for secret in SECRETS), message
    else:
        assert isinstance(outcome, IonApiFile)
        for url in (outcome.gateway_url, outcome.token_url):
            assert url.startswith("https://") or url.startswith(("http://127.", "http://[::1]")), url


def _parse(document: object) -> object:
    try:
        return parse_ionapi(document)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        return exc


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.sampled_from([*REFERENCE_EXAMPLE, "extra"]), JSON_VALUES | URLS), min_size=1, max_size=3
    ),
    drop=st.lists(st.sampled_from(list(REFERENCE_EXAMPLE)), max_size=2),
)
def test_generated_documents_end_in_a_file_or_a_configuration_error(changes: list, drop: list) -> None:
    RUNS["documents"] += 1
    document = {k: v for k, v in REFERENCE_EXAMPLE.items() if k not in drop}
    document.update(dict(changes))
    _check(_parse(document))


@FUZZ
@given(
    at=st.integers(0, len(json.dumps(REFERENCE_EXAMPLE))),
    cut=st.integers(0, 8),
    insert=st.binary(max_size=6)
    | st.sampled_from([b'"', b"{", b"[" * 5000, b"1" * 5000, b"\xff\xfe", b"\\u"]),
)
def test_mutated_files_end_in_a_file_or_a_configuration_error(
    at: int, cut: int, insert: bytes, tmp_path_factory
) -> None:  # noqa: ANN001
    RUNS["files"] += 1
    text = json.dumps(REFERENCE_EXAMPLE).encode()
    path = tmp_path_factory.mktemp("ion") / "app.ionapi"
    path.write_bytes(text[:at] + insert + text[at + cut :])
    try:
        outcome: object = load_ionapi(path)
    except ConfigurationError as exc:
        outcome = exc
    _check(outcome)


# -- regression inputs ---------------------------------------------------------------------------

REGRESSIONS = {
    "iu = https://[": ({**REFERENCE_EXAMPLE, "iu": "https://["}, "key 'iu' is not a valid URL"),
    "pu with a port out of range": ({**REFERENCE_EXAMPLE, "pu": "https://sso.test:99999/T/as/"}, "key 'pu'"),
    "iu over http to a real host": ({**REFERENCE_EXAMPLE, "iu": "http://ionapi.example.test"}, "key 'iu' uses http://"),
    "pu over http to a real host": (
        {**REFERENCE_EXAMPLE, "pu": "http://sso.example.test/ACME_TST/as/"}, "key 'pu' uses http://",
    ),
    "a value of thousands of digits": ({**REFERENCE_EXAMPLE, "dt": 10**5000}, "key 'dt' must be a string"),
    "a boolean value": ({**REFERENCE_EXAMPLE, "cs": True}, "key 'cs' must be a string"),
    "a list as the document": ([REFERENCE_EXAMPLE], "expected a JSON object"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression_documents(name: str) -> None:
    document, words = REGRESSIONS[name]
    outcome = _parse(document)
    assert isinstance(outcome, ConfigurationError) and words in str(outcome), outcome
    _check(outcome)


FILE_REGRESSIONS = {
    "not UTF-8": (b'{"ti": "caf\xe9"}', "not UTF-8"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "an integer of thousands of digits": (b'{"dt": ' + b"1" * 5000 + b"}", "thousands of digits"),
    "not JSON": (b"ti=ACME", r"not valid JSON \(line 1, column 1"),
}


@pytest.mark.parametrize("name", list(FILE_REGRESSIONS))
def test_regression_files(name: str, tmp_path: Path) -> None:
    data, words = FILE_REGRESSIONS[name]
    path = tmp_path / "app.ionapi"
    path.write_bytes(data)
    with pytest.raises(ConfigurationError, match=words) as caught:
        load_ionapi(path)
    assert "app.ionapi" in str(caught.value)


def test_a_directory_given_as_the_ionapi_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory, not the .ionapi file"):
        load_ionapi(tmp_path)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8702", "http://127.3.2.1", "http://[::1]:9"])
def test_loopback_sandboxes_may_use_http(url: str) -> None:
    document = {**REFERENCE_EXAMPLE, "iu": url, "pu": url + "/ACME_TST/as/"}
    assert parse_ionapi(document).gateway_url == url + "/ACME_TST"


def test_fuzz_inputs_were_run(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n.ionapi fuzz inputs run: {dict(RUNS)}, unexpected exceptions: 0")


@pytest.mark.parametrize("name", list(FILE_REGRESSIONS))
def test_connect_m3_with_a_bad_file_says_one_line(name: str, tmp_path: Path, ml_home: Path, run_cli) -> None:
    path = tmp_path / "app.ionapi"
    path.write_bytes(FILE_REGRESSIONS[name][0])
    result = run_cli("connect", "m3", "--name", "shop", "--ionapi", str(path))
    assert result.exit_code == 1 and FILE_REGRESSIONS[name][1].replace("\\", "") in result.output, (
        result.output
    )
    assert "Traceback" not in result.output


def test_an_odd_key_is_named_on_one_line() -> None:
    outcome = _parse({**REFERENCE_EXAMPLE, "x\ny" * 30: []})
    assert isinstance(outcome, ConfigurationError) and "\n" not in str(outcome) and "'x\\ny" in str(outcome)
