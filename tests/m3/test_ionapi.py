"""The .ionapi file: every key read, derived URLs, malformed files rejected naming the key, secrets
kept out of repr and messages."""

from __future__ import annotations

import json

import pytest

from ml_connector.errors import ConfigurationError
from ml_connector.sandbox.m3.app import SERVICE_ACCOUNT_SECRET, ionapi_document
from ml_connector.targets.m3 import load_ionapi, parse_ionapi

REFERENCE_EXAMPLE = {  # the shape documented in shared/reference/infor/M3-ION.md, values invented there
    "ti": "ACME_TST",
    "cn": "ml-connector",
    "dt": "12",
    "ci": "ACME_TST~k3Jx0dummyClientId",
    "cs": "dummy-client-secret",
    "iu": "https://ionapi.example.test",
    "pu": "https://sso.example.test:443/ACME_TST/as/",
    "oa": "authorization.oauth2",
    "ot": "token.oauth2",
    "or": "revoke_token.oauth2",
    "ev": "U000000000",
    "v": "1.0",
    "saak": "ACME_TST#dummyServiceAccountAccessKey",
    "sask": "dummy-service-account-secret-key",
}


def test_reads_every_key_and_derives_the_urls():
    ionapi = parse_ionapi(REFERENCE_EXAMPLE)
    assert ionapi.tenant == "ACME_TST"
    assert ionapi.gateway_url == "https://ionapi.example.test/ACME_TST"
    assert ionapi.token_url == "https://sso.example.test:443/ACME_TST/as/token.oauth2"
    assert ionapi.revoke_url == "https://sso.example.test:443/ACME_TST/as/revoke_token.oauth2"
    assert ionapi.as_document() == REFERENCE_EXAMPLE  # dt, ev, v kept for a faithful round trip
    assert set(ionapi.secrets()) == {"ci", "cs", "saak", "sask"}
    assert {**ionapi.public(), **ionapi.secrets()} == REFERENCE_EXAMPLE


def test_secrets_stay_out_of_repr():
    text = repr(parse_ionapi(REFERENCE_EXAMPLE))
    for key in ("cs", "sask", "saak", "ci"):
        assert REFERENCE_EXAMPLE[key] not in text


@pytest.mark.parametrize("key", ["ti", "ci", "cs", "iu", "pu", "ot", "saak", "sask"])
def test_a_missing_key_is_named(key):
    document = {k: v for k, v in REFERENCE_EXAMPLE.items() if k != key}
    with pytest.raises(ConfigurationError, match=rf"\b{key}\b") as caught:
        parse_ionapi(document)
    for secret in ("cs", "sask"):
        assert REFERENCE_EXAMPLE[secret] not in str(caught.value)


def test_missing_service_account_explains_the_download():
    document = {k: v for k, v in REFERENCE_EXAMPLE.items() if k not in ("saak", "sask")}
    with pytest.raises(ConfigurationError, match="Create Service Account"):
        parse_ionapi(document)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("iu", "ionapi.example.test", "'iu'"),
        ("pu", "https://sso.example.test/ACME_TST/as", "'pu' must end with '/'"),
        ("ci", "no-tilde", "'ci'"),
        ("saak", "no-hash", "'saak'"),
        ("ti", "ACME TST", "'ti'"),
        ("cs", {"nested": 1}, "'cs'"),
    ],
)
def test_a_bad_value_is_named_without_echoing_it(key, value, says):
    with pytest.raises(ConfigurationError, match=says) as caught:
        parse_ionapi({**REFERENCE_EXAMPLE, key: value})
    if isinstance(value, str):
        assert value not in str(caught.value)


def test_files_on_disk(tmp_path):
    good = tmp_path / "sandbox.ionapi"
    good.write_text(json.dumps(ionapi_document("http://127.0.0.1:8702")))
    assert load_ionapi(good).gateway_url == "http://127.0.0.1:8702/MLC_TST"
    broken = tmp_path / "broken.ionapi"
    broken.write_text('{"ti": "X", ')
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_ionapi(broken)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_ionapi(tmp_path / "absent.ionapi")
    not_object = tmp_path / "list.ionapi"
    not_object.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="JSON object"):
        load_ionapi(not_object)


def test_sandbox_document_is_a_valid_ionapi_file():
    ionapi = parse_ionapi(ionapi_document("http://127.0.0.1:9"))
    assert ionapi.service_account_secret == SERVICE_ACCOUNT_SECRET
    assert ionapi.token_url == "http://127.0.0.1:9/MLC_TST/as/token.oauth2"
