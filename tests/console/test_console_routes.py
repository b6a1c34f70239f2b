"""The console through Starlette's TestClient: every route, the permission matrix, CSRF, session
expiry, and no secret or buyer detail on any page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update
from starlette.routing import Route
from starlette.testclient import TestClient

from ml_connector.console.app import create_app
from ml_connector.engine.models import WebSession
from ml_connector.ops import queries
from ml_connector.ops.roles import ROLES
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION

from .conftest import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.store, world.config_path)


def signed_in(app, role: str) -> tuple[TestClient, str]:
    client = TestClient(app, base_url="http://127.0.0.1:8700")
    response = client.post("/signin", data={"name": role, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = CSRF.search(client.get("/").text).group(1)
    return client, token


def pages(world) -> list[str]:
    problem = queries.problems(world.store, connection=M3_CONNECTION).rows[0]
    settlement = queries.settlements(world.store).rows[0]
    return [
        "/",
        "/problems",
        "/problems?class=mapping",
        f"/problems?connection={M3_CONNECTION}&flow=orders&q=1",
        "/problems.csv",
        "/settlements",
        f"/settlements?connection={ACUMATICA_CONNECTION}",
        f"/settlements/{settlement.record_id}",
        f"/settlements/{settlement.record_id}/raw",
        "/orders",
        "/orders?state=failed",
        "/stock-price",
        "/shipments",
        "/skus",
        f"/skus?connection={ACUMATICA_CONNECTION}",
        f"/records/{problem.id}",
        "/runs",
        f"/runs?connection={M3_CONNECTION}&flow=orders",
        "/connections",
        "/activity",
        "/connections/new",
        "/users",
        "/static/htmx.min.js",
        "/static/console.css",
    ]


def test_every_page_needs_a_session_and_renders_for_a_viewer(world, app):
    anonymous = TestClient(app)
    for path in pages(world):
        if path.startswith("/static"):
            continue
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin"), path
    client, _ = signed_in(app, "viewer")
    admin, _ = signed_in(app, "admin")
    for path in pages(world):
        response = client.get(path)
        if path in ("/connections/new", "/users"):  # the admin's pages
            assert response.status_code == 403, path
            response = admin.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        if "html" in response.headers["content-type"]:
            assert (
                "Content-Security-Policy" in response.headers or "content-security-policy" in response.headers
            )
            assert "Traceback" not in response.text
    assert client.get("/records/999999").status_code == 404
    assert client.get("/settlements/999999").status_code == 404


def test_a_wrong_password_does_not_sign_in(app):
    client = TestClient(app)
    response = client.post("/signin", data={"name": "admin", "password": "wrong password"})
    assert response.status_code == 200 and "do not match" in response.text
    assert "mlc_session" not in client.cookies
    assert client.post("/signin", data={"name": "nobody", "password": PASSWORD}).status_code == 200


EVERYONE = frozenset(ROLES)
FINANCE = frozenset({"finance", "admin"})
OPERATOR = frozenset({"operator", "admin"})
SETTLEMENT_WORK = frozenset({"finance", "operator", "admin"})
ADMIN = frozenset({"admin"})

# Every POST route of the console (its path as routed) with each action it carries and the roles
# that may take it. A new POST route that is not here fails test_every_post_route_is_in_the_matrix.
MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "/signin": {"sign in": EVERYONE},
    "/signout": {"sign out": EVERYONE},
    "/problems/bulk": {"bulk retry": OPERATOR, "bulk retry settlements": SETTLEMENT_WORK, "bulk resolve": FINANCE},
    "/settlements/{id:int}/add-rule": {"add rule": FINANCE},
    "/skus/map": {"map sku": OPERATOR},
    "/records/{id:int}/retry": {"retry": OPERATOR, "retry settlement": SETTLEMENT_WORK},
    "/records/{id:int}/resolve": {"resolve": FINANCE},
    "/connections/new": {"add connection": ADMIN},
    "/connections/{name}/credentials": {"rotate credentials": ADMIN},
    "/connections/{name}/{action:str}": {
        "ping": OPERATOR, "run now": OPERATOR, "pause": OPERATOR, "resume": OPERATOR,
    },
    "/users": {"add user": ADMIN},
    "/users/{name}/remove": {"remove user": ADMIN},
    "/users/{name}/role": {"change role": ADMIN},
}  # fmt: skip
CASES = [(route, action) for route, actions in MATRIX.items() for action in actions]


def _action_requests(world) -> dict[str, tuple[str, dict[str, str]]]:
    """One harmless request per action: each fails on its own terms (a record already done, an
    empty reason, a SKU no record waits for, a user or credential set that does not exist) once
    the role is allowed, so the world is unchanged."""
    done = queries.list_records(
        world.store, connection=ACUMATICA_CONNECTION, state="posted", flow="orders", limit=1
    ).rows[0]
    settlement = queries.settlements(world.store, connection=ACUMATICA_CONNECTION).rows[0]
    conn = "/connections/no-such-connection"  # refused by the action itself once the role may
    return {
        "retry": (f"/records/{done.id}/retry", {}),
        "retry settlement": (f"/records/{settlement.record_id}/retry", {}),
        "resolve": (f"/records/{done.id}/resolve", {"reason": "checked"}),
        "bulk retry": ("/problems/bulk", {"action": "retry", "ids": str(done.id)}),
        "bulk retry settlements": ("/problems/bulk", {"action": "retry", "ids": str(settlement.record_id)}),
        "bulk resolve": ("/problems/bulk", {"action": "resolve", "ids": str(done.id), "reason": "checked"}),
        "add rule": (f"/settlements/{settlement.record_id}/add-rule", {"transaction_type": ""}),
        "map sku": ("/skus/map", {"connection": ACUMATICA_CONNECTION, "sku": "NO-SUCH-SKU", "item": ""}),
        "run now": (f"{conn}/run", {"flow": "no_such_flow"}),
        "pause": (f"{conn}/pause", {"reason": "matrix"}),
        "resume": (f"{conn}/resume", {}),
        "ping": (f"{conn}/ping", {}),
        "add connection": ("/connections/new", {"name": ""}),  # refused by the form (400) when allowed
        "rotate credentials": (f"{conn}/credentials", {"system": "no-such-system"}),
        "add user": ("/users", {"name": "", "role": "viewer", "password": "x"}),
        "remove user": ("/users/nobody/remove", {}),
        "change role": ("/users/nobody/role", {"role": "viewer"}),
    }


def test_every_post_route_is_in_the_matrix(app):
    """The matrix is checked against the real route table, so no POST route goes untested."""
    posts = {
        route.path
        for route in app.routes
        if isinstance(route, Route) and route.methods and "POST" in route.methods
    }
    assert posts == set(MATRIX), (
        f"POST routes missing from the permission matrix: {sorted(posts - set(MATRIX))}; "
        f"in the matrix but not routed: {sorted(set(MATRIX) - posts)}"
    )


def test_every_action_of_the_matrix_has_a_request(world):
    actions = {a for _, a in CASES} - {"sign in", "sign out"}
    assert set(_action_requests(world)) == actions


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("route", "action"), CASES, ids=[f"{r} {a}" for r, a in CASES])
def test_permission_matrix(world, app, role, route, action):
    allowed = role in MATRIX[route][action]
    if action == "sign in":
        client = TestClient(app, base_url="http://127.0.0.1:8700")
        response = client.post("/signin", data={"name": role, "password": PASSWORD}, follow_redirects=False)
        assert response.status_code == 303 and allowed
        return
    client, token = signed_in(app, role)
    if action == "sign out":
        response = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303 and allowed
        return
    path, data = _action_requests(world)[action]
    response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
    if allowed:
        assert response.status_code in (303, 400), (role, action, response.status_code, response.text[:300])
    else:
        assert response.status_code == 403, (role, action, response.status_code)
        assert "may not" in response.text


def test_a_viewer_sees_no_action_buttons(world, app):
    client, _ = signed_in(app, "viewer")
    problem = queries.problems(world.store, connection=M3_CONNECTION).rows[0]
    for path in ("/", "/problems", f"/records/{problem.id}", "/connections", "/skus"):
        html = client.get(path).text
        forms = re.findall(r'<form method="post" action="([^"]+)"', html)
        assert forms == ["/signout"], (path, forms)


def test_csrf_is_required_on_every_post(world, app):
    client, token = signed_in(app, "admin")
    for path, data in _action_requests(world).values():
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403, path
    cross = client.post(
        "/problems/bulk",
        data={"csrf_token": token, "action": "resolve"},
        headers={"origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    assert client.post("/signout", data={}).status_code == 403


def test_sessions_expire_and_sign_out_ends_them(world, app):
    client, token = signed_in(app, "viewer")
    with world.store.session() as s:
        s.execute(update(WebSession).values(expires_at=world.store.now() - timedelta(seconds=1)))
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    client, token = signed_in(app, "viewer")
    assert client.post("/signout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_is_secure_when_not_on_loopback(world):
    app = create_app(world.store, world.config_path, secure_cookies=True, session_ttl=timedelta(minutes=5))
    client = TestClient(app, base_url="https://console.example.com")
    response = client.post("/signin", data={"name": "viewer", "password": PASSWORD}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "Max-Age=300" in cookie


def test_no_secret_or_buyer_detail_on_any_page(world, app):
    from ml_connector.sandbox.acumatica import state as acumatica_state
    from ml_connector.sandbox.amazon.state import SandboxCredentials

    amazon = SandboxCredentials()
    ionapi = world.store.load_credentials(M3_CONNECTION, "m3")
    secrets = [
        amazon.client_secret,
        amazon.refresh_token,
        acumatica_state.CLIENT_SECRET,
        acumatica_state.PASSWORD,
        str(ionapi["cs"]),
        str(ionapi["sask"]),
        PASSWORD,
    ]
    orders = world.deployment.state("amazon").world.orders
    orders = list(orders.values()) if isinstance(orders, dict) else list(orders)
    pii = sorted({value for order in orders for value in _pii_of(order) if value and len(value) > 5})
    assert pii, "the sandbox's orders should carry buyer details to look for"
    client, _ = signed_in(app, "admin")
    for path in pages(world):
        text = client.get(path).text
        for secret in secrets:
            assert secret not in text, (path, "secret")
        for value in pii:
            assert value not in text, (path, value)


def _pii_of(order) -> list[str]:
    return [order.buyer_name, order.buyer_email, order.street]


def test_every_form_carries_the_session_csrf_token_without_javascript(world, app):
    client, token = signed_in(app, "admin")
    problem = queries.problems(world.store, connection=M3_CONNECTION).rows[0]
    settlement = queries.settlements(world.store).rows[0]
    for path in (
        "/",
        "/problems",
        f"/records/{problem.id}",
        f"/settlements/{settlement.record_id}",
        "/connections",
        "/skus",
        "/users",
        "/connections/new",
    ):
        html = client.get(path).text
        fields = re.findall(r'name="csrf_token" value="([^"]*)"', html)
        forms = re.findall(r'<form method="post"', html)
        assert fields and len(fields) >= len(forms), path
        assert set(fields) == {token}, path
