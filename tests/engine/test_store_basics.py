"""The store on SQLite and PostgreSQL: connections, cursors, raw documents, records, migrations."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ml_connector.clock import Clock
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError


@pytest.fixture
def store(database_url: str):
    s = Store.open(database_url, clock=Clock())
    yield s
    s.close()


def test_open_migrates_to_head_and_reopen_is_a_no_op(database_url: str) -> None:
    from alembic.script import ScriptDirectory

    from ml_connector.engine import migrate

    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    Store.open(database_url).close()
    s = Store.open(database_url)
    with s.engine.connect() as c:
        assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        tables = set(sa.inspect(c).get_table_names())
    assert {
        "connections",
        "credentials",
        "cursors",
        "records",
        "audit_events",
        "raw_documents",
        "leases",
    } <= tables
    s.close()


def test_connection_halves_merge(store: Store) -> None:
    store.ensure_connection("shop", settings={"amazon": {"region": "eu"}})
    conn = store.ensure_connection("shop", erp="m3", settings={"m3": {"company": "100"}})
    assert conn.erp == "m3"
    assert conn.settings == {"amazon": {"region": "eu"}, "m3": {"company": "100"}}
    assert store.ensure_connection("shop").erp == "m3"  # no erp given: unchanged
    assert [c.name for c in store.connections()] == ["shop"]
    with pytest.raises(ConfigurationError, match="connect amazon"):
        store.connection("nope")
    with pytest.raises(ConfigurationError):
        store.ensure_connection("x", erp="sap")


def test_cursors(store: Store) -> None:
    store.ensure_connection("shop")
    assert store.get_cursor("shop", "settlements") is None
    store.set_cursor("shop", "settlements", "2026-01-01")
    store.set_cursor("shop", "settlements", "2026-02-01")
    store.set_cursor("shop", "orders", "o1")
    assert store.get_cursor("shop", "settlements") == "2026-02-01"
    assert store.get_cursor("shop", "orders") == "o1"


def test_raw_documents_kept_compressed_on_first_sight_only(store: Store) -> None:
    store.ensure_connection("shop")
    data = b"settlement-id\ttotal-amount\n" * 2000
    assert store.keep_raw_document("shop", "settlement_report", "S1", data) is True
    assert store.keep_raw_document("shop", "settlement_report", "S1", b"something else") is False
    assert store.raw_document("shop", "settlement_report", "S1") == data
    assert store.raw_document("shop", "settlement_report", "S2") is None
    assert store.raw_document_keys("shop", "settlement_report") == ["S1"]
    with store.engine.connect() as c:
        stored = c.exec_driver_sql("SELECT data FROM raw_documents").scalar()
    assert len(stored) < len(data) / 10


def test_audit_trail_is_append_only_in_the_database(store: Store) -> None:
    store.ensure_connection("shop")
    rec = store.ensure_record("shop", "journal", "S1", flow="settlements")
    store.add_event(rec.id, "fetched", payload={"ship_to": {"name": "Jane Buyer", "country_code": "DE"}})
    [event] = store.audit_trail(rec.id)
    assert event.payload == {"ship_to": {"name": "[redacted]", "country_code": "DE"}}
    with pytest.raises(sa.exc.DatabaseError), store.engine.begin() as c:
        c.exec_driver_sql("UPDATE audit_events SET event = 'posted'")
    with pytest.raises(sa.exc.DatabaseError), store.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM audit_events")
    assert len(store.audit_trail(rec.id)) == 1


def test_claim_is_exclusive_until_settled_or_expired(store: Store) -> None:
    store.ensure_connection("shop")
    ttl = timedelta(minutes=5)
    a = store.claim("shop", "journal", "K", flow="settlements", owner="a", ttl=ttl, source={"x": 1})
    b = store.claim("shop", "journal", "K", flow="settlements", owner="b", ttl=ttl)
    assert a.claimed and not b.claimed
    assert a.record.source == {"x": 1}
    store.clock.advance(301)
    c = store.claim("shop", "journal", "K", flow="settlements", owner="c", ttl=ttl)
    assert c.claimed and c.record.attempts == 2
    store.settle(c.record.id, "c", state="posted", event="posted", erp_id="E1")
    assert not store.claim("shop", "journal", "K", flow="settlements", owner="a", ttl=ttl).claimed
    assert store.find_record("shop", "journal", "K").erp_id == "E1"


def test_models_match_the_migrations(database_url: str) -> None:
    """The schema is the migrations'; the ORM models must describe exactly that schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ml_connector.engine.models import Base
    from ml_connector.engine.queue_schema import owned_by_queue

    store = Store.open(database_url)
    with store.engine.connect() as c:
        context = MigrationContext.configure(
            c, opts={"include_name": lambda name, kind, parent: not owned_by_queue(name)}
        )
        diff = compare_metadata(context, Base.metadata)
    store.close()
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    from ml_connector.engine import migrate

    store = Store.open(database_url)
    migrate.downgrade(store.engine, "base")
    with store.engine.connect() as c:
        assert "records" not in sa.inspect(c).get_table_names()
    migrate.upgrade(store.engine)
    store.ensure_connection("shop")
    store.close()


def test_concurrent_first_opens_of_a_fresh_database(database_url: str) -> None:
    """Two workers starting at once on an empty database both end up at head."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(lambda _: Store.open(database_url), range(2)))
    for s in stores:
        s.ensure_connection("shop")
        s.close()
