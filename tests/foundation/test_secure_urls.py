"""https:// for every host outside 127.0.0.0/8 and ::1 (issue 10, point 8): the shared check and
each place a credential-bearing URL is configured (LWA, SP-API, ION, Acumatica, the connect commands)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_connector.errors import ConfigurationError
from ml_connector.transport.urls import is_loopback, require_secure_url

PLAIN_REAL = "http://user:s3cr3t-token@erp.example.com/AcumaticaERP"
REFERENCE_EXAMPLE = {  # the shape of shared/reference/infor/M3-ION.md, values invented
    "ti": "ACME_TST", "ci": "ACME_TST~k3Jx0dummyClientId", "cs": "dummy-client-secret",
    "iu": "https://ionapi.example.test", "pu": "https://sso.example.test:443/ACME_TST/as/", "ot": "token.oauth2",
    "saak": "ACME_TST#dummyServiceAccountAccessKey", "sask": "dummy-service-account-secret-key",
}  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["https://api.amazon.com/auth/o2/token", "HTTPS://Example.com", "http://127.0.0.1:8702", "http://127.8.9.10/x",
     "http://[::1]:9/as/", "https://[2001:db8::1]/"],
)  # fmt: skip
def test_accepted(url: str) -> None:
    assert require_secure_url(url, "the setting") == url


@pytest.mark.parametrize(
    ("url", "words"),
    [(PLAIN_REAL, "uses http:// for erp.example.com"), ("http://localhost:8000", "uses http:// for localhost"),
     ("http://128.0.0.1/", "uses http://"), ("http://[::2]/", "uses http://"), ("http://10.1.2.3", "uses http://"),
     ("https://[", "not a valid URL"), ("https://h:99999/", "not a valid URL"), ("ftp://h/", "not an http(s) URL"),
     ("https://", "not an http(s) URL"), ("erp.example.com", "not an http(s) URL"), ("", "must be a URL")],
)  # fmt: skip
def test_refused_naming_the_setting_never_the_url(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match="^the setting ") as caught:
        require_secure_url(url, "the setting")
    assert words in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and "user" not in str(caught.value)


def test_loopback_is_an_address_never_a_name() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.255.0.1") and is_loopback("[::1]")
    assert not is_loopback("localhost") and not is_loopback("127.0.0.1.example.com")


def test_lwa_token_url() -> None:
    import httpx

    from ml_connector.sources.amazon.auth import LwaAuth, LwaCredentials

    credentials = LwaCredentials("amzn1.application-oa2-client.x", "lwa-secret-xyz", "Atzr|refresh")
    with (
        httpx.Client() as http,
        pytest.raises(ConfigurationError, match="LWA token URL uses http://") as caught,
    ):
        LwaAuth(credentials, http=http, token_url="http://api.amazon.com/auth/o2/token")
    assert "lwa-secret-xyz" not in str(caught.value)


def test_sp_api_base_url_and_sandbox_url() -> None:
    from ml_connector.sources.amazon.client import SpApiClient

    secrets = {"client_id": "id", "client_secret": "lwa-secret-xyz", "refresh_token": "Atzr|r"}
    with pytest.raises(ConfigurationError, match="sandbox_url\\) uses http:// for sellingpartnerapi"):
        SpApiClient.from_connection({"sandbox_url": "http://sellingpartnerapi-na.amazon.com"}, secrets)
    client = SpApiClient.from_connection({"sandbox_url": "http://127.0.0.1:9"}, secrets)  # our sandbox
    client.close()


def test_ion_urls_of_the_ionapi_file() -> None:
    from ml_connector.targets.m3 import parse_ionapi

    for key in ("iu", "pu"):
        document = {**REFERENCE_EXAMPLE, key: REFERENCE_EXAMPLE[key].replace("https://", "http://")}
        with pytest.raises(ConfigurationError, match=f"key '{key}' uses http://"):
            parse_ionapi(document)


def test_acumatica_site_url() -> None:
    from ml_connector.targets.acumatica.settings import AcumaticaSettings

    with pytest.raises(ConfigurationError, match="Acumatica site url uses http://"):
        AcumaticaSettings(url="http://erp.example.com/AcumaticaERP", tenant="Company")
    with pytest.raises(ConfigurationError, match="Acumatica site url uses http://"):
        AcumaticaSettings.from_mapping({"url": "http://erp.example.com", "tenant": "Company"})
    assert AcumaticaSettings(url="http://127.0.0.1:8710/", tenant="Company").url == "http://127.0.0.1:8710"


def test_connect_commands_refuse_http_before_asking_for_secrets(
    ml_home: Path, tmp_path: Path, run_cli
) -> None:
    result = run_cli("connect", "acumatica", "--name", "shop", "--url", PLAIN_REAL, "--tenant", "C",
                     "--endpoint-version", "24.200.001")  # fmt: skip
    assert result.exit_code == 1 and "--url uses http:// for erp.example.com" in result.output
    assert "s3cr3t" not in result.output and "Traceback" not in result.output
    result = run_cli("connect", "amazon", "--name", "shop", "--sandbox-url", "http://example.com")
    assert result.exit_code == 1 and "--sandbox-url uses http://" in result.output
    ionapi = tmp_path / "app.ionapi"
    ionapi.write_text(json.dumps({**REFERENCE_EXAMPLE, "iu": "http://ionapi.example.test"}))
    result = run_cli("connect", "m3", "--name", "shop", "--ionapi", str(ionapi))
    assert result.exit_code == 1 and "app.ionapi: key 'iu' uses http://" in result.output
    assert REFERENCE_EXAMPLE["cs"] not in result.output
