"""Adding a connection from the browser: secrets typed or uploaded once, stored in the vault, never
shown again, checked at once with the CLI's ping; config.toml gets the connection's table."""

from __future__ import annotations

import json

from ml_connector.config import load_config
from ml_connector.console.app import create_app
from ml_connector.sandbox.amazon.state import SandboxCredentials

from .test_console_routes import signed_in


def _amazon_fields(world) -> dict[str, str]:
    amazon = SandboxCredentials()
    return {
        "region": "na",
        "marketplaces": "ATVPDKIKX0DER",
        "lwa_client_id": amazon.client_id,
        "lwa_client_secret": amazon.client_secret,
        "lwa_refresh_token": amazon.refresh_token,
        "amazon_url": world.deployment.servers["amazon"].url,
        "client_secret_rotates_on": "2027-03-01",
        "mode": "summary",
    }


def test_admin_adds_an_m3_connection_with_an_uploaded_ionapi_and_it_is_pinged(world):
    from ml_connector.sandbox.m3 import app as m3_app

    app = create_app(world.store, world.config_path)
    client, token = signed_in(app, "admin")
    assert "Add a connection" in client.get("/connections/new").text
    ionapi = m3_app.ionapi_document(world.deployment.servers["m3"].url)
    fields = {
        **_amazon_fields(world),
        "csrf_token": token,
        "name": "us-second-m3",
        "erp": "m3",
        "m3_company": "100",
        "m3_division": "AAA",
    }
    fields.update(
        {
            "m3_facility": "A01",
            "m3_warehouse": "100",
            "m3_customer_template": "AMZTEMPL",
            "m3_order_type": "AMZ",
        }
    )
    response = client.post(
        "/connections/new",
        data=fields,
        files={"ionapi": ("service.ionapi", json.dumps(ionapi).encode(), "application/json")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert "msg=" in location and "credentials+accepted" in location, location
    config = load_config(world.config_path).connection("us-second-m3")
    assert config.erp == "m3" and config.m3["company"] == "100"
    text = world.config_path.read_text("utf-8")
    assert ionapi["cs"] not in text and ionapi["sask"] not in text and fields["lwa_client_secret"] not in text
    assert world.store.load_credentials("us-second-m3", "m3")["cs"] == ionapi["cs"]
    page = client.get("/connections").text
    assert "us-second-m3" in page and ionapi["cs"] not in page and fields["lwa_refresh_token"] not in page
    overview = client.get("/").text
    assert "rotate within" in overview


def test_a_bad_connection_form_is_refused_with_words_and_keeps_no_secret(world):
    app = create_app(world.store, world.config_path)
    client, token = signed_in(app, "admin")
    before = world.config_path.read_text("utf-8")
    fields = {
        **_amazon_fields(world),
        "csrf_token": token,
        "name": "broken",
        "erp": "acumatica",
        "acumatica_url": "http://erp.example.com",
        "acumatica_tenant": "T",
    }
    fields.update(
        {
            "acumatica_client_id": "id",
            "acumatica_client_secret": "s3cret-value",
            "acumatica_username": "u",
            "acumatica_password": "pw-value-1",
        }
    )
    response = client.post("/connections/new", data=fields)
    assert response.status_code == 400
    assert (
        "https://" in response.text
        and "s3cret-value" not in response.text
        and "pw-value-1" not in response.text
    )
    assert world.config_path.read_text("utf-8") == before
    assert "broken" not in {c.name for c in world.store.connections()}
    operator, token = signed_in(app, "operator")
    assert operator.post("/connections/new", data={**fields, "csrf_token": token}).status_code == 403
    assert operator.get("/connections/new").status_code == 403


def test_a_non_loopback_console_needs_https():
    import pytest

    from ml_connector.console.server import check_binding
    from ml_connector.errors import ConfigurationError

    assert check_binding("127.0.0.1", None, None) is False
    assert check_binding("::1", None, None) is False
    with pytest.raises(ConfigurationError, match="plain http"):
        check_binding("0.0.0.0", None, None)
    assert check_binding("0.0.0.0", "cert.pem", "key.pem") is True
