"""The ION token endpoint returns a refresh token (as Infor does when the app enables them) and
honours the refresh_token grant; an unknown refresh token is invalid_grant."""

from __future__ import annotations

from starlette.testclient import TestClient

from ml_connector.clock import Clock
from ml_connector.sandbox.m3 import app as m3app


def test_refresh_token_grant() -> None:
    client_auth = (m3app.CLIENT_ID, m3app.CLIENT_SECRET)
    url = f"/{m3app.TENANT}/as/token.oauth2"
    with TestClient(m3app.create_app(clock=Clock(200.0))) as client:
        first = client.post(
            url,
            data={
                "grant_type": "password",
                "username": m3app.SERVICE_ACCOUNT_KEY,
                "password": m3app.SERVICE_ACCOUNT_SECRET,
            },
            auth=client_auth,
        ).json()
        assert first["refresh_token"]
        renewed = client.post(
            url,
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            auth=client_auth,
        )
        assert renewed.status_code == 200
        assert renewed.json()["access_token"] != first["access_token"]
        wrong = client.post(
            url, data={"grant_type": "refresh_token", "refresh_token": "nope"}, auth=client_auth
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_bulk_options_on_the_query_string() -> None:
    client_auth = (m3app.CLIENT_ID, m3app.CLIENT_SECRET)
    with TestClient(m3app.create_app(clock=Clock(200.0))) as client:
        token = client.post(
            f"/{m3app.TENANT}/as/token.oauth2",
            data={
                "grant_type": "password",
                "username": m3app.SERVICE_ACCOUNT_KEY,
                "password": m3app.SERVICE_ACCOUNT_SECRET,
            },
            auth=client_auth,
        ).json()["access_token"]
        url = [r.path for r in client.app.routes if getattr(r, "path", "").endswith("/v2/execute")][0]
        url = url.replace("{tenant}", m3app.TENANT)
        body = {
            "program": "MMS200MI",
            "transactions": [{"transaction": "LstItmByItm", "record": {"ITNO": "A"}}],
        }
        headers = {"authorization": f"Bearer {token}"}

        def count(query: str) -> int:
            answer = client.post(url + query, json=body, headers=headers).json()
            return len(answer["results"][0]["records"])

        assert count("") > 1
        assert count("?maxrecs=1") == 1


def test_excludempty_drops_empty_fields() -> None:
    client_auth = (m3app.CLIENT_ID, m3app.CLIENT_SECRET)
    with TestClient(m3app.create_app(clock=Clock(200.0))) as client:
        token = client.post(
            f"/{m3app.TENANT}/as/token.oauth2",
            data={
                "grant_type": "password",
                "username": m3app.SERVICE_ACCOUNT_KEY,
                "password": m3app.SERVICE_ACCOUNT_SECRET,
            },
            auth=client_auth,
        ).json()["access_token"]
        url = f"/{m3app.TENANT}/M3/m3api-rest/v2/execute"
        body = {
            "program": "MMS200MI",
            "transactions": [{"transaction": "LstItmByItm", "record": {"ITNO": "A"}}],
        }
        headers = {"authorization": f"Bearer {token}"}

        def empties(query: str) -> int:
            answer = client.post(url + query, json=body, headers=headers).json()
            return sum(1 for r in answer["results"][0]["records"] for v in r.values() if not v.strip())

        assert empties("") > 0
        assert empties("?excludempty=true") == 0
