"""`connection remove NAME`: refused without saying what happens to the records; --keep-records
keeps them readable; --purge-records removes everything, and the audit trail is append-only again
afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.model.documents import CustomerDocument


class OneShotTarget:
    """Finds nothing, posts everything: enough to leave a posted record with its audit trail."""

    def find(self, document):  # noqa: ANN001, ANN201
        return None

    def post(self, document):  # noqa: ANN001, ANN201
        return f"ERP-{document.key}"


SECRETS = '{"client_id":"amzn1.application-oa2-client.r1","client_secret":"sec-r1","refresh_token":"Atzr|r1"}'


@pytest.fixture
def two_connections(ml_home: Path, database_url: str, run_cli, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ML_CONNECTOR_DATABASE_URL", database_url)
    for name in ("mistake", "keeper"):
        made = run_cli("connect", "amazon", "--name", name, "--secrets-stdin", "--no-check", input=SECRETS)
        assert made.exit_code == 0, made.output
    store = Store.open(database_url)
    for name in ("mistake", "keeper"):
        engine = PostingEngine(store, name, flow="orders")
        document = CustomerDocument(key=f"{name}-1", name=f"Marketplace {name}", currency="EUR")
        engine.post(document, OneShotTarget(), source={"n": 1})
        store.set_cursor(name, "orders", "2026-11-01")
    store.close()
    return database_url


def test_remove_asks_what_happens_to_the_records(two_connections: str, run_cli) -> None:
    result = run_cli("connection", "remove", "mistake")
    assert result.exit_code == 1 and "--keep-records" in result.stderr and "--purge-records" in result.stderr
    nosuch = run_cli("connection", "remove", "nosuch", "--keep-records")
    assert nosuch.exit_code == 1 and "keeper, mistake" in nosuch.stderr


def test_keep_records_drops_the_credentials_and_keeps_the_journey(two_connections: str, run_cli) -> None:
    result = run_cli("connection", "remove", "mistake", "--keep-records")
    assert result.exit_code == 0, result.output
    store = Store.open(two_connections)
    try:
        assert store.credential_systems("mistake") == []
        assert [r.key for r in store.records(connection="mistake")] == ["mistake-1"]
        assert store.credential_systems("keeper") == ["amazon"]
        assert (
            store.get_cursor("mistake", "orders") is None
            and store.get_cursor("keeper", "orders") == "2026-11-01"
        )
    finally:
        store.close()
    back = run_cli("connect", "amazon", "--name", "mistake", "--secrets-stdin", "--no-check", input=SECRETS)
    assert back.exit_code == 0


def test_purge_removes_everything_and_the_trail_stays_append_only(two_connections: str, run_cli) -> None:
    result = run_cli("connection", "remove", "mistake", "--purge-records")
    assert result.exit_code == 0, result.output
    assert "1 record(s)" in result.stdout
    store = Store.open(two_connections)
    try:
        assert "mistake" not in [c.name for c in store.connections()]
        [kept] = store.records(connection="keeper")
        assert store.audit_trail(kept.id)
        from sqlalchemy import text

        with pytest.raises(Exception), store.session() as s:  # noqa: B017, PT011 - the database's own refusal
            s.execute(text("DELETE FROM audit_events"))
        assert store.audit_trail(kept.id)
    finally:
        store.close()
