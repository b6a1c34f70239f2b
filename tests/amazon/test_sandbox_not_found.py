"""Every 404 of the SP-API sandbox is Amazon's JSON error body, never Starlette's plain text."""

from __future__ import annotations

from starlette.testclient import TestClient

from ml_connector.clock import Clock
from ml_connector.sandbox.amazon.app import create_app


def test_unknown_resource_answers_amazon_json_error() -> None:
    with TestClient(create_app(clock=Clock(200.0))) as client:
        answer = client.get("/no/such/api/v9/thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["errors"][0]["code"] == "NotFound"
    assert "x-amzn-RequestId" in answer.headers
