"""Admin work and the lists' search: role changes (the last admin stays one), the sign-in throttle,
credential rotation from the Connections screen, search by amount and day, the stock & price
verdicts, and bulk actions that count what they did."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from ml_connector.console.app import create_app
from ml_connector.errors import ConfigurationError
from ml_connector.ops import actions, queries, users
from ml_connector.ops.events import recent_actions
from ml_connector.ops.throttle import SignInThrottle
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION

from .conftest import PASSWORD
from .test_console_routes import signed_in


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.store, world.config_path)


def _flash(response) -> dict[str, str]:
    """The msg / error a POST redirected back with."""
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {k: v[0] for k, v in query.items() if k in ("msg", "error")}


# --- roles ---------------------------------------------------------------------------------------


def test_the_last_admin_is_neither_removed_nor_demoted(world, app):
    assert [u.name for u in users.list_users(world.store) if u.role == "admin"] == ["admin"]
    with pytest.raises(ConfigurationError, match="last admin"):
        users.set_role(world.store, "admin", "viewer")
    with pytest.raises(ConfigurationError, match="last admin"):
        users.remove_user(world.store, "admin")
    client, token = signed_in(app, "admin")
    response = client.post(
        "/users/admin/role", data={"csrf_token": token, "role": "finance"}, follow_redirects=False
    )
    assert response.status_code == 303 and "last admin" in _flash(response)["error"]
    assert next(u for u in users.list_users(world.store) if u.name == "admin").role == "admin"
    page = client.get("/users").text
    assert 'action="/users/viewer/role"' in page and "Change role" in page


def test_a_role_change_from_the_console_applies_to_open_sessions_and_is_audited(world, app):
    users.add_user(world.store, "temp-clerk", "viewer", PASSWORD)
    try:
        clerk, clerk_token = signed_in(app, "temp-clerk")
        done = queries.list_records(world.store, connection=ACUMATICA_CONNECTION, state="posted", limit=1)
        retry = f"/records/{done.rows[0].id}/retry"
        assert clerk.post(retry, data={"csrf_token": clerk_token}).status_code == 403
        admin, token = signed_in(app, "admin")
        response = admin.post(
            "/users/temp-clerk/role", data={"csrf_token": token, "role": "operator"}, follow_redirects=False
        )
        assert "now operator (was viewer)" in _flash(response)["msg"]
        assert clerk.post(retry, data={"csrf_token": clerk_token}, follow_redirects=False).status_code == 303
        event = recent_actions(world.store, action="user_role", limit=1)[0]
        assert event.actor == "admin" and "temp-clerk operator" in event.message
        bad = admin.post(
            "/users/temp-clerk/role", data={"csrf_token": token, "role": "boss"}, follow_redirects=False
        )
        assert "unknown role" in _flash(bad)["error"]
        # a second admin lets the first step down; then that one is the last
        users.set_role(world.store, "temp-clerk", "admin")
        users.set_role(world.store, "admin", "finance")
        with pytest.raises(ConfigurationError, match="temp-clerk is the last admin"):
            users.remove_user(world.store, "temp-clerk")
    finally:
        users.set_role(world.store, "admin", "admin")
        users.remove_user(world.store, "temp-clerk")


# --- the sign-in throttle ------------------------------------------------------------------------


def test_throttle_counts_per_user_and_per_address_and_ages_out():
    now = [1000.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(4):
        throttle.failed("Alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") is None  # four failures: still allowed
    throttle.failed("alice", "10.0.0.2")
    wait = throttle.retry_after("alice", "10.0.0.3")  # the fifth locks the name, from any address
    assert wait == 15 * 60
    assert throttle.retry_after("bob", "10.0.0.1") is None  # another user is not throttled by them
    now[0] += 15 * 60 - 10
    assert throttle.retry_after("alice", "10.0.0.3") == 10
    now[0] += 11
    assert throttle.retry_after("alice", "10.0.0.3") is None
    for n in range(20):  # twenty names from one address lock the address, not the names elsewhere
        throttle.failed(f"guess{n}", "10.9.9.9")
    assert throttle.retry_after("carol", "10.9.9.9") is not None
    assert throttle.retry_after("carol", "10.0.0.4") is None
    throttle.failed("dave", "10.0.0.5")
    throttle.succeeded("dave")
    assert throttle._failures.get(("user", "dave")) is None


def test_sign_in_answers_429_with_retry_after_and_other_users_still_sign_in(world):
    app = create_app(world.store, world.config_path)  # its own throttle
    client = TestClient(app, base_url="http://127.0.0.1:8700")
    for _ in range(5):
        assert (
            client.post("/signin", data={"name": "viewer", "password": "wrong password"}).status_code == 200
        )
    refused = client.post("/signin", data={"name": "viewer", "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in refused.text and "mlc_session" not in client.cookies
    other = client.post("/signin", data={"name": "finance", "password": PASSWORD}, follow_redirects=False)
    assert other.status_code == 303
    for n in range(15):  # the address's ceiling: 20 failures in all, whatever the names
        client.post("/signin", data={"name": f"nobody{n}", "password": "wrong password"})
    blocked = client.post("/signin", data={"name": "operator", "password": PASSWORD}, follow_redirects=False)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


# --- credential rotation -------------------------------------------------------------------------


def test_a_refused_amazon_secret_is_not_kept_and_an_accepted_one_is(world, app):
    store, name = world.store, ACUMATICA_CONNECTION
    before = store.load_credentials(name, "amazon")
    client, token = signed_in(app, "admin")
    wrong = client.post(
        f"/connections/{name}/credentials",
        data={"csrf_token": token, "system": "amazon", "amazon_client_secret": "amzn1.oa2-cs.v1.typo"},
        follow_redirects=False,
    )
    assert "were refused" in _flash(wrong)["error"] and "earlier ones are kept" in _flash(wrong)["error"]
    assert store.load_credentials(name, "amazon") == before
    amazon = world.deployment.state("amazon")
    original = amazon.credentials
    amazon.credentials = dataclasses.replace(original, client_secret="amzn1.oa2-cs.v1.rotated-secret")
    try:
        rotated = client.post(
            f"/connections/{name}/credentials",
            data={
                "csrf_token": token,
                "system": "amazon",
                "amazon_client_secret": "amzn1.oa2-cs.v1.rotated-secret",
                "rotates_on": "2027-06-30",
            },
            follow_redirects=False,
        )
        flash = _flash(rotated)
        assert "credentials accepted" in flash["msg"] and "client_secret" in flash["msg"]
        assert store.load_credentials(name, "amazon")["client_secret"] == "amzn1.oa2-cs.v1.rotated-secret"
        assert store.load_credentials(name, "amazon")["refresh_token"] == before["refresh_token"]
        assert store.connection(name).settings["amazon"]["client_secret_rotates_on"] == "2027-06-30"
        event = recent_actions(store, connection=name, action="rotate_credentials", limit=1)[0]
        assert event.actor == "admin" and "rotated-secret" not in (event.message or "")
        for path in ("/connections", "/activity", "/"):
            assert "rotated-secret" not in client.get(path).text
    finally:
        amazon.credentials = original
        store.save_credentials(name, "amazon", before)
    refused = recent_actions(store, connection=name, action="rotate_credentials_refused", limit=1)[0]
    assert refused.actor == "admin" and "typo" not in (refused.message or "")


def test_rotation_words_for_an_m3_upload_and_a_set_that_is_not_there(world, app):
    from ml_connector.sandbox.m3 import app as m3_app

    client, token = signed_in(app, "admin")
    same = m3_app.ionapi_document(world.deployment.servers["m3"].url)
    before = world.store.load_credentials(M3_CONNECTION, "m3")
    response = client.post(
        f"/connections/{M3_CONNECTION}/credentials",
        data={"csrf_token": token, "system": "m3"},
        files={
            "ionapi": (
                "new.ionapi",
                json.dumps({**same, "cs": "not-the-secret"}).encode(),
                "application/json",
            )
        },
        follow_redirects=False,
    )
    assert "refused" in _flash(response)["error"]
    assert world.store.load_credentials(M3_CONNECTION, "m3") == before
    garbage = client.post(
        f"/connections/{M3_CONNECTION}/credentials",
        data={"csrf_token": token, "system": "m3"},
        files={"ionapi": ("new.ionapi", b"\x00\x01", "application/json")},
        follow_redirects=False,
    )
    assert "not a JSON .ionapi file" in _flash(garbage)["error"]
    missing = client.post(
        f"/connections/{M3_CONNECTION}/credentials",
        data={"csrf_token": token, "system": "acumatica", "acumatica_password": "x"},
        follow_redirects=False,
    )
    assert "no acumatica credentials" in _flash(missing)["error"]
    assert 'action="/connections/' + M3_CONNECTION + '/credentials"' in client.get("/connections").text
    finance, finance_token = signed_in(app, "finance")
    assert "Rotate credentials" not in finance.get("/connections").text
    assert (
        finance.post(
            f"/connections/{M3_CONNECTION}/credentials", data={"csrf_token": finance_token, "system": "m3"}
        ).status_code
        == 403
    )


# --- search by amount and day --------------------------------------------------------------------


def test_orders_and_problems_are_found_by_amount_and_day(world, app):
    order = next(
        r
        for r in queries.list_records(world.store, flow="orders", kinds=("sales_order",), limit=None).rows
        if r.amount is not None and r.state == "failed"
    )
    source = world.store.record(order.id).source
    assert order.amount == sum(Decimal(i["item_price"]) for i in source["items"])
    assert order.day_from.isoformat() == source["purchase_date"][:10]
    amount, day = f"{order.amount:.2f}", order.day_from.isoformat()
    by_amount = queries.list_records(world.store, flow="orders", amount=amount, limit=None).rows
    assert order.id in {r.id for r in by_amount} and all(r.amount == order.amount for r in by_amount)
    by_day = queries.list_records(world.store, flow="orders", day=day, limit=None).rows
    assert order.id in {r.id for r in by_day} and all(r.day_from.isoformat() == day for r in by_day)
    assert queries.problems(world.store, amount=amount, day=day).rows[0].id == order.id
    assert queries.list_records(world.store, flow="orders", amount="0.01", day=day, limit=None).rows == []
    client, _ = signed_in(app, "viewer")
    for path in (f"/orders?amount={amount}", f"/orders?day={day}", f"/problems?amount={amount}&day={day}"):
        assert order.key in client.get(path).text, path
    assert order.key not in client.get(f"/orders?amount={amount}&day=2001-01-01").text
    bad = client.get("/orders?amount=twelve")
    assert bad.status_code == 400 and "type it like 12.34" in bad.text
    assert client.get("/problems?day=30/11/2026").status_code == 400


def test_settlements_are_found_by_payout_and_by_a_day_of_their_period(world, app):
    posted = next(r for r in queries.settlements(world.store).rows if r.total and r.start)
    rec = world.store.record(posted.record_id)
    assert rec.amount_cents == int(Decimal(posted.total) * 100)
    payout = str(abs(Decimal(posted.total)))  # typed without its sign
    found = queries.settlements(world.store, amount=payout).rows
    assert posted.record_id in {r.record_id for r in found}
    inside = queries.settlements(world.store, day=posted.start).rows
    assert posted.record_id in {r.record_id for r in inside}
    client, _ = signed_in(app, "viewer")
    assert posted.settlement_id in client.get(f"/settlements?amount={payout}&day={posted.end}").text
    assert posted.settlement_id not in client.get(f"/settlements?amount={payout}&day=2001-01-01").text


# --- stock & price verdicts and bulk counts ------------------------------------------------------


def test_the_stock_price_list_shows_amazons_verdict_per_sku(world, app):
    store = world.store
    refused = store.mark_failed(
        ACUMATICA_CONNECTION,
        "listing_update",
        "LST-A1F83G8C2ARO7P-MLC-TEST-1",
        flow="stock_price",
        message="feed 777001 refused MLC-TEST: 99022: The value of 'purchasable_offer' is not valid.",
        source={
            "sku": "MLC-TEST",
            "marketplace_id": "A1F83G8C2ARO7P",
            "quantity": 3,
            "price": "9.99",
            "currency": "GBP",
        },
    )
    try:
        client, _ = signed_in(app, "viewer")
        html = client.get(f"/stock-price?connection={ACUMATICA_CONNECTION}").text
        assert "Amazon&#39;s verdict" in html or "Amazon's verdict" in html
        row = html[html.index(f'/records/{refused.id}"') :].split("</tr>", 1)[0]
        assert (
            "rejected" in row and "99022: The value of" in row and "feed 777001" in row and "9.99 GBP" in row
        )
        posted = queries.list_records(
            store, flow="stock_price", state="posted", limit=None, with_source=True
        ).rows
        assert posted and "accepted" in client.get("/stock-price?state=posted").text
        from ml_connector.ops.listings import verdicts

        found = verdicts(store, posted)
        assert {v.verdict for v in found.values()} <= {"accepted", "already shown"}
        assert any(v.sent_as.startswith("feed") for v in found.values())
        updates = [r for r in posted if r.kind == "listing_update"]
        assert updates and all(found[r.id].sku == r.source["sku"] for r in updates)
        feeds = [r for r in posted if r.kind == "listings_feed"]
        assert all(found[r.id].message and "accepted" in found[r.id].message for r in feeds)
    finally:
        actions.resolve(store, refused.id, "test record", user="tester")


def test_bulk_actions_count_what_they_did(world, app):
    store = world.store
    problem = store.mark_failed(
        ACUMATICA_CONNECTION, "shipment", "SHIP-BULK-TEST-1", flow="shipments", message="ERP answered 400"
    )
    done = queries.list_records(store, connection=ACUMATICA_CONNECTION, state="posted", limit=1).rows[0]
    client, token = signed_in(app, "finance")
    response = client.post(
        "/problems/bulk",
        data={
            "csrf_token": token,
            "action": "resolve",
            "ids": [str(problem.id), str(done.id)],
            "reason": "by hand",
        },
        follow_redirects=False,
    )
    msg = _flash(response)["msg"]
    assert msg.startswith("resolve: 1 of 2 records acted on"), msg
    assert store.record(problem.id).state == "resolved"
    nothing = client.post(
        "/problems/bulk",
        data={"csrf_token": token, "action": "resolve", "ids": [str(done.id)], "reason": "by hand"},
        follow_redirects=False,
    )
    assert _flash(nothing)["error"].startswith("resolve: 0 of 1 records acted on")
    no_reason = client.post(
        "/problems/bulk",
        data={"csrf_token": token, "action": "resolve", "ids": [str(done.id)]},
        follow_redirects=False,
    )
    assert "say why" in _flash(no_reason)["error"]
