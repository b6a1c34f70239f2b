import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ml_connector.clock import Clock
from ml_connector.sandbox.faults import FaultInjectionMiddleware, FaultPlan
from ml_connector.sandbox.server import serve_in_thread


def _app(plan: FaultPlan):
    async def hello(request):
        expired = request.scope.get("state", {}).get("force_token_expired", False)
        return JSONResponse({"ok": True, "expired": expired})

    return FaultInjectionMiddleware(Starlette(routes=[Route("/hello", hello)]), plan, Clock(100))


def test_server_binds_loopback_only_and_serves():
    with serve_in_thread(_app(FaultPlan())) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/hello").json() == {"ok": True, "expired": False}


def test_faults_are_injected_at_the_planned_rates_and_reproducibly():
    plan = FaultPlan(rate_429=0.3, rate_503=0.2, seed=42)
    with serve_in_thread(_app(plan)) as server, httpx.Client(base_url=server.url) as client:
        codes = [client.get("/hello").status_code for _ in range(200)]
    assert 40 <= codes.count(429) <= 80
    assert 20 <= codes.count(503) <= 60
    assert codes.count(200) == 200 - codes.count(429) - codes.count(503)
    replay = FaultPlan(rate_429=0.3, rate_503=0.2, seed=42)
    assert [replay.draw() for _ in range(200)] == [
        {429: "429", 503: "503", 200: None}[code] for code in codes
    ]


def test_dropped_connection_is_a_transport_error_for_the_client():
    with serve_in_thread(_app(FaultPlan(rate_drop=1.0))) as server:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/hello")


def test_expired_token_fault_reaches_the_app_and_control_endpoint_sets_the_plan():
    plan = FaultPlan()
    with serve_in_thread(_app(plan)) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/hello").json()["expired"] is False
        client.post("/_sandbox/faults", json={"rate_expire_token": 1.0})
        assert client.get("/hello").json()["expired"] is True
        state = client.get("/_sandbox/faults").json()
        assert state["injected"]["expire_token"] == 1
