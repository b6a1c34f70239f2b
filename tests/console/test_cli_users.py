"""`ml-connector user add|list|remove`, `pause`/`resume` and `console`'s refusal of plain http off
loopback, through the real command line."""

from __future__ import annotations

from typer.testing import CliRunner

from ml_connector.cli.app import app
from ml_connector.engine.store import Store
from ml_connector.ops import users


def test_user_commands_hash_the_password_and_audit(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    Store.open().close()  # `ml-connector init` made the store (commands other than init never create it)
    runner = CliRunner()
    added = runner.invoke(
        app, ["user", "add", "alice", "--role", "finance", "--password-stdin"], input="a long password\n"
    )
    assert added.exit_code == 0, added.output
    assert "a long password" not in added.output
    assert (
        runner.invoke(
            app, ["user", "add", "bob", "--role", "boss", "--password-stdin"], input="another password\n"
        ).exit_code
        == 1
    )
    short = runner.invoke(
        app, ["user", "add", "carol", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "8 characters" in short.output
    listed = runner.invoke(app, ["user", "list"])
    assert "alice\tfinance" in listed.output and "bob" not in listed.output
    with Store.open() as store:
        stored = users.list_users(store)[0]
        assert stored.password_hash.startswith("$argon2id$") and "a long password" not in stored.password_hash
        assert users.sign_in(store, "alice", "a long password") is not None
        assert users.sign_in(store, "alice", "wrong password") is None
    assert runner.invoke(app, ["user", "remove", "alice"]).exit_code == 0
    assert runner.invoke(app, ["user", "remove", "alice"]).exit_code == 1
    with Store.open() as store:
        from ml_connector.ops.events import recent_actions

        done = [(a.action, a.actor.startswith("cli")) for a in recent_actions(store)]
        assert done[:2] == [("user_remove", True), ("user_add", True)]


def test_pause_and_resume_from_the_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    with Store.open() as store:
        store.ensure_connection("shop", erp="m3")
    runner = CliRunner()
    assert runner.invoke(app, ["pause", "shop", "--reason", "month end"]).exit_code == 0
    from ml_connector.ops.pause import paused_connections, paused_summary

    with Store.open() as store:
        assert paused_connections(store)["shop"].reason == "month end"
        assert paused_summary(store, "shop", "orders").counts["skipped_paused"] == 1
    assert runner.invoke(app, ["resume", "shop"]).exit_code == 0
    with Store.open() as store:
        assert paused_summary(store, "shop", "orders") is None
    missing = runner.invoke(app, ["pause", "nosuch"])
    assert missing.exit_code == 1 and "no connection named" in missing.output


def test_console_refuses_plain_http_off_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["console", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "plain http" in result.output and "Traceback" not in result.output


def test_set_role_and_set_password_from_the_shell_keep_the_last_admin(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    Store.open().close()
    runner = CliRunner()
    for name, role in (("alice", "admin"), ("bob", "viewer")):
        added = runner.invoke(
            app, ["user", "add", name, "--role", role, "--password-stdin"], input="a long password\n"
        )
        assert added.exit_code == 0, added.output
    demote = runner.invoke(app, ["user", "set-role", "alice", "finance"])
    assert demote.exit_code == 1 and "alice is the last admin" in demote.output
    assert "Traceback" not in demote.output
    removed = runner.invoke(app, ["user", "remove", "alice"])
    assert removed.exit_code == 1 and "last admin" in removed.output
    promoted = runner.invoke(app, ["user", "set-role", "bob", "admin"])
    assert promoted.exit_code == 0 and "bob is admin (was viewer)" in promoted.output
    assert runner.invoke(app, ["user", "set-role", "alice", "finance"]).exit_code == 0
    assert "alice\tfinance" in runner.invoke(app, ["user", "list"]).output
    bogus = runner.invoke(app, ["user", "set-role", "alice", "boss"])
    assert bogus.exit_code == 1 and "viewer, finance, operator, admin" in bogus.output
    assert runner.invoke(app, ["user", "set-role", "nobody", "viewer"]).exit_code == 1
    changed = runner.invoke(
        app, ["user", "set-password", "alice", "--password-stdin"], input="another long password\n"
    )
    assert changed.exit_code == 0 and "another long password" not in changed.output
    with Store.open() as store:
        assert users.sign_in(store, "alice", "another long password") is not None
        assert users.sign_in(store, "alice", "a long password") is None
        from ml_connector.ops.events import recent_actions

        done = [a.action for a in recent_actions(store)]
        assert done[:3] == ["user_password", "user_role", "user_role"]


def test_demo_console_rerun_on_the_same_home_resets_its_user(tmp_path, monkeypatch, capsys):
    """The demo user is the home's only admin: a rerun gives it a new password (removing it would
    leave no admin, which the store refuses)."""
    import re

    from ml_connector.console import demo as console_demo
    from ml_connector.console import server
    from ml_connector.sandbox.deployment import SandboxDeployment

    served = []
    monkeypatch.setattr(server, "serve", lambda store, config_path, **kw: served.append(config_path))
    with SandboxDeployment(home=tmp_path / "home") as deployment:
        passwords = []
        for _ in range(2):
            console_demo.serve_demo_console(deployment)
            out = capsys.readouterr().out
            passwords.append(re.search(r"sign in as demo with password (\S+)", out).group(1))
        assert len(served) == 2 and passwords[0] != passwords[1]
        store = deployment.open_store()
        try:
            assert [(u.name, u.role) for u in users.list_users(store)] == [("demo", "admin")]
            assert users.sign_in(store, "demo", passwords[1]) is not None
            assert users.sign_in(store, "demo", passwords[0]) is None
        finally:
            store.close()


def test_records_searched_by_amount_and_day_from_the_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    with Store.open() as store:
        store.ensure_connection("shop", erp="m3")
        for key, price, day in (("111-1", "12.34", "2026-11-30"), ("111-2", "99.00", "2026-11-29")):
            source = {
                "amazon_order_id": key,
                "purchase_date": f"{day}T10:00:00+00:00",
                "items": [{"item_price": price}],
            }
            store.mark_failed(
                "shop", "sales_order", key, flow="orders", message="ERP answered 400", source=source
            )
    runner = CliRunner()
    found = runner.invoke(app, ["records", "--amount", "12.34"])
    assert found.exit_code == 0 and "111-1" in found.output and "111-2" not in found.output
    by_day = runner.invoke(app, ["records", "--day", "2026-11-29"])
    assert "111-2" in by_day.output and "111-1" not in by_day.output
    bad = runner.invoke(app, ["records", "--day", "30.11.2026"])  # the real process: test_bad_invocations
    assert bad.exit_code == 1 and "type it like 2026-11-30" in str(bad.exception)
