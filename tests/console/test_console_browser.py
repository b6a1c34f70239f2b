"""The console in a real browser (Playwright driving Debian's Chromium at /usr/bin/chromium).

These tests fail, never skip, when the browser is missing: .ci/run installs it. Each screen is
photographed under the test's temporary directory (look at them: the pages must read well to a
finance user, not only be correct)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from ml_connector.console.app import create_app
from ml_connector.ops import queries
from ml_connector.sandbox.deployment import M3_CONNECTION
from ml_connector.sandbox.server import serve_in_thread

from .conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def console_url(world):
    server = serve_in_thread(create_app(world.store, world.config_path), name="console")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screens")


def sign_in(browser, url: str, role: str) -> Page:
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.goto(f"{url}/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    return page


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_sign_in_and_every_screen(browser, console_url, shots, world):
    page = sign_in(browser, console_url, "admin")
    shot(page, shots, "01-overview")
    expect(page.get_by_text(M3_CONNECTION).first).to_be_visible()
    for name, path, heading in (
        ("02-problems", "/problems", "Problems"),
        ("03-settlements", "/settlements", "Settlements"),
        ("04-orders", "/orders", "Orders"),
        ("05-skus", "/skus", "SKUs and ERP items"),
        ("06-stock-price", "/stock-price", "Stock & price updates"),
        ("07-shipments", "/shipments", "Shipments"),
        ("08-runs", "/runs", "Runs"),
        ("09-connections", "/connections", "Connections"),
        ("10-activity", "/activity", "Activity"),
    ):
        page.goto(f"{console_url}{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        shot(page, shots, name)
    problem = queries.problems(world.store, connection=M3_CONNECTION).rows[0]
    order = queries.list_records(world.store, flow="orders", kinds=("sales_order",), limit=1).rows[0]
    for name, path, heading in (
        ("11a-record", f"/records/{problem.id}", "Journey"),
        ("11b-users", "/users", "Users"),
        ("11c-connection-new", "/connections/new", "Add a connection"),
        ("11d-orders-by-amount-and-day", f"/orders?amount={order.amount}&day={order.day_from}", "Orders"),
    ):
        page.goto(f"{console_url}{path}")
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        shot(page, shots, name)
    expect(page.locator("td.key", has_text=order.key)).to_be_visible()  # the search found it
    page.goto(f"{console_url}/stock-price")
    expect(page.get_by_role("columnheader", name="Amazon's verdict")).to_be_visible()
    expect(page.locator("tbody .badge.accepted").first).to_be_visible()
    posted = next(r for r in queries.settlements(world.store).rows if r.status in ("posted", "tied out"))
    page.goto(f"{console_url}/settlements/{posted.record_id}")
    expect(page.get_by_text("balanced").first).to_be_visible()
    shot(page, shots, "11-settlement-posted")
    page.goto(f"{console_url}/problems")
    page.get_by_label("Class of error").select_option("mapping")
    expect(page).to_have_url(re.compile(r"class=mapping"))  # htmx swapped the list and kept the URL
    expect(page.locator("#problem-list tbody tr").first).to_contain_text("Mapping")
    shot(page, shots, "12-problems-mapping")
    page.close()


def test_operator_maps_an_unmapped_sku_and_the_order_posts(browser, console_url, shots, world):
    page = sign_in(browser, console_url, "operator")
    page.goto(f"{console_url}/problems?connection={M3_CONNECTION}&flow=orders")
    row = page.locator("#problem-list tbody tr", has_text="no ERP item for SKU").first
    expect(row).to_be_visible()
    order_key = row.locator("td.key").inner_text()
    row.get_by_role("link", name="Fix").click()
    expect(page.locator("h1")).to_contain_text(order_key)
    expect(page.get_by_role("heading", name=re.compile("Fix and retry: map the SKU"))).to_be_visible()
    shot(page, shots, "13-order-unmapped-sku")
    mapped = []
    while page.locator("form[action='/skus/map']").count():  # one form per SKU the order lacks
        fix = page.locator("form[action='/skus/map']").first
        sku = fix.locator("input[name=sku]").get_attribute("value")
        suggested = fix.locator("input[type=radio]").first.get_attribute("value")
        assert suggested and sku not in [m[0] for m in mapped]
        fix.get_by_role("button", name="Map and retry").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"SKU {sku} mapped to {suggested}")
        mapped.append((sku, suggested))
    expect(page.locator("h1 .badge")).to_have_text("posted")
    shot(page, shots, "14-order-posted")
    rec = world.store.lookup_records(order_key, M3_CONNECTION)[0]
    assert rec.state == "posted" and rec.erp_id
    sku_map = world.deployment.config.connection(M3_CONNECTION).erp_settings["sku_map"]
    for sku, item in mapped:  # saved to the connection's sku_map in config.toml
        assert sku_map[sku] == item
    page.close()


def test_finance_adds_the_printed_rule_and_the_settlement_posts_and_ties_out(
    browser, console_url, shots, world
):
    page = sign_in(browser, console_url, "finance")
    page.goto(f"{console_url}/settlements?connection={M3_CONNECTION}")
    row = page.locator("tbody tr", has_text="quarantined").first
    expect(row).to_be_visible()
    shot(page, shots, "15-settlements-quarantined")
    row.locator("td.key a").click()
    expect(page.get_by_role("heading", name="Fix and retry: add the account rule")).to_be_visible()
    expect(page.locator("pre", has_text="[[rule]]").first).to_contain_text("Subscription Fee")
    shot(page, shots, "16-settlement-quarantined")
    page.get_by_label("GL account").first.fill("5140")
    page.get_by_label("Category").first.fill("subscription")
    page.get_by_role("button", name="Add rule and retry").first.click()
    expect(page.locator(".flash.ok")).to_contain_text("rule added")
    expect(page.locator("h1 .badge")).to_have_text("posted")
    expect(page.get_by_text("(balanced)").first).to_be_visible()
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)  # finance does not run flows
    page.close()
    operator = sign_in(browser, console_url, "operator")
    operator.goto(f"{console_url}/connections")
    card = operator.locator("section", has_text=M3_CONNECTION)
    card.get_by_label("flow to run").select_option("reconcile")
    card.get_by_role("button", name="Run now").click()
    expect(operator.locator(".flash.ok")).to_contain_text("reconcile started")
    settlement_url = page.url
    for _ in range(60):
        operator.goto(settlement_url)
        if operator.locator("h1 .badge").inner_text() == "tied out":
            break
        operator.wait_for_timeout(500)
    expect(operator.locator("h1 .badge")).to_have_text("tied out")
    shot(operator, shots, "17-settlement-tied-out")
    operator.close()


def test_finance_resolves_with_a_reason_and_the_audit_names_the_user(browser, console_url, shots, world):
    page = sign_in(browser, console_url, "finance")
    page.goto(f"{console_url}/problems?class=mapping&flow=items")
    row = page.locator("#problem-list tbody tr").first
    record_id = row.locator("td").nth(1).inner_text()
    key = row.locator("td.key").inner_text()
    row.get_by_role("link", name=re.compile("Fix|Open")).click()
    expect(page.locator("h1")).to_contain_text(key)  # the record's page, not the inbox still showing
    page.get_by_label("Reason", exact=True).fill("item set up by hand in M3 under another SKU")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".flash.ok")).to_contain_text("resolved")
    expect(page.locator("h1 .badge")).to_have_text("resolved by hand")
    expect(page.locator(".journey")).to_contain_text("resolved by finance: item set up by hand")
    shot(page, shots, "18-record-resolved")
    page.goto(f"{console_url}/activity")
    line = page.locator("tbody tr", has_text=f"#{record_id}").first
    expect(line).to_contain_text("finance")
    expect(line).to_contain_text("item set up by hand in M3")
    shot(page, shots, "19-activity")
    page.close()


def test_a_viewer_sees_no_buttons_and_posting_directly_is_refused(browser, console_url, shots, world):
    page = sign_in(browser, console_url, "viewer")
    problem = queries.problems(world.store).rows[0]
    for path in ("/", "/problems", f"/records/{problem.id}", "/connections", "/skus"):
        page.goto(f"{console_url}{path}")
        for name in ("Retry", "Resolve", "Map and retry", "Ping now", "Run now", "Pause", "Apply"):
            expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    shot(page, shots, "20-viewer-record")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"{console_url}/records/{problem.id}/retry", form={"csrf_token": token}, max_redirects=0
    )
    assert response.status == 403
    assert "may not" in response.text()
    page.close()


def test_reading_and_acting_work_without_javascript(browser, console_url, shots, world):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{console_url}/problems")
    page.get_by_label("User name").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(
        page.get_by_role("heading", name="Problems", exact=True)
    ).to_be_visible()  # back where it was asked
    page.get_by_label("Class of error").select_option("mapping")
    page.get_by_role("button", name="Filter").click()  # a plain GET form without htmx
    expect(page).to_have_url(re.compile(r"class=mapping"))
    first = page.locator("#problem-list tbody tr").first
    expect(first).to_contain_text("Mapping")
    first.locator("td").nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="Journey")).to_be_visible()
    page.get_by_role("button", name="Retry", exact=True).click()  # a plain POST form, CSRF field included
    expect(page.locator(".flash")).to_be_visible()
    shot(page, shots, "21-no-javascript-retry")
    context.close()


def test_admin_rotates_a_secret_and_a_refused_one_is_not_kept(browser, console_url, shots, world):
    import dataclasses

    from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION

    before = world.store.load_credentials(ACUMATICA_CONNECTION, "amazon")
    amazon = world.deployment.state("amazon")
    original = amazon.credentials
    page = sign_in(browser, console_url, "admin")
    try:
        for secret, outcome in (("amzn1.oa2-cs.v1.typo", "bad"), ("amzn1.oa2-cs.v1.browser-rotated", "ok")):
            if outcome == "ok":  # Amazon issued a new secret (Seller Central's "rotate")
                amazon.credentials = dataclasses.replace(original, client_secret=secret)
            page.goto(f"{console_url}/connections")
            card = page.locator("section", has_text=ACUMATICA_CONNECTION)
            card.get_by_text("Rotate credentials").click()
            form = card.locator("form[aria-label^='rotate amazon']")
            form.get_by_label("New LWA client secret").fill(secret)
            shot(page, shots, f"22-rotate-form-{outcome}")
            form.get_by_role("button", name="Store and ping").click()
            flash = page.locator(f".flash.{outcome}")
            expect(flash).to_contain_text("refused" if outcome == "bad" else "credentials accepted")
            assert secret not in page.content()
            shot(page, shots, f"23-rotate-{outcome}")
        assert world.store.load_credentials(ACUMATICA_CONNECTION, "amazon")["client_secret"] == secret
        page.goto(f"{console_url}/activity")
        line = page.locator("tbody tr", has_text="amazon credentials rotated").first
        expect(line).to_contain_text("admin")
    finally:
        amazon.credentials = original
        world.store.save_credentials(ACUMATICA_CONNECTION, "amazon", before)
        page.close()


def test_admin_adds_a_user_changes_its_role_and_the_last_admin_stays(browser, console_url, shots, world):
    page = sign_in(browser, console_url, "admin")
    page.goto(f"{console_url}/users")
    add = page.locator("form[action='/users']")
    add.get_by_label("User name").fill("browser-clerk")
    add.get_by_label("Role").select_option("viewer")
    add.get_by_label("Password").fill(PASSWORD)
    add.get_by_role("button", name="Add").click()
    expect(page.locator(".flash.ok")).to_contain_text("user browser-clerk added (viewer)")
    page.get_by_label("role of browser-clerk").select_option("finance")
    page.locator("form[action='/users/browser-clerk/role']").get_by_role("button", name="Change role").click()
    expect(page.locator(".flash.ok")).to_contain_text("browser-clerk is now finance (was viewer)")
    shot(page, shots, "24-users-role-changed")
    page.get_by_label("role of admin").select_option("viewer")
    page.locator("form[action='/users/admin/role']").get_by_role("button", name="Change role").click()
    expect(page.locator(".flash.bad")).to_contain_text("admin is the last admin")
    shot(page, shots, "25-users-last-admin")
    clerk = sign_in(browser, console_url, "browser-clerk")
    clerk.goto(f"{console_url}/problems")
    expect(clerk.get_by_role("button", name="Apply")).to_be_visible()  # finance may resolve in bulk
    clerk.close()
    page.goto(f"{console_url}/users")
    page.locator("form[action='/users/browser-clerk/remove']").get_by_role("button", name="Remove").click()
    expect(page.locator(".flash.ok")).to_contain_text("user browser-clerk removed")
    page.close()
