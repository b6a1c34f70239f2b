"""The lean store: old runs pruned (the latest of each pair kept), key lookups by index, and a
PostgreSQL store whose connections were cut recovering on checkout without a pre-ping."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ml_connector.clock import Clock
from ml_connector.config import parse_config
from ml_connector.engine.models import Run
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError


@pytest.fixture
def store(database_url: str):
    with Store.open(database_url, clock=Clock(), keep_runs=timedelta(days=90)) as s:
        s.ensure_connection("acme", erp="m3")
        s.ensure_connection("other", erp="m3")
        yield s


def _runs(store: Store) -> list[tuple[str, str, int]]:
    with store.session() as s:
        rows = s.execute(sa.select(Run.connection_id, Run.flow, Run.id).order_by(Run.id)).all()
    names = {c.id: c.name for c in store.connections()}
    return [(names[cid], flow, rid) for cid, flow, rid in rows]


def test_runs_older_than_keep_runs_are_pruned_and_each_pairs_latest_is_kept(store: Store) -> None:
    for _ in range(3):
        with store.run("acme", "orders", heartbeat=False):
            pass
    with store.run("other", "orders", heartbeat=False):
        pass
    with store.run("acme", "items", heartbeat=False):
        pass
    store.clock.advance(timedelta(days=91).total_seconds())
    with store.run("acme", "orders", heartbeat=False) as handle:
        pass
    runs = _runs(store)
    # acme/orders: only the new run; the pairs that did not run since keep their latest (and only) run
    assert [r for r in runs if r[:2] == ("acme", "orders")] == [("acme", "orders", handle.run_id)]
    assert {r[:2] for r in runs} == {("acme", "orders"), ("other", "orders"), ("acme", "items")}
    assert len(runs) == 3
    status = {(r.connection, r.flow): r.last_run_state for r in store.status()}
    assert status[("other", "orders")] == "finished" and status[("acme", "items")] == "finished"


def test_runs_within_keep_runs_are_kept(store: Store) -> None:
    for _ in range(2):
        with store.run("acme", "orders", heartbeat=False):
            pass
        store.clock.advance(timedelta(days=89).total_seconds())
    with store.run("acme", "orders", heartbeat=False):
        pass
    assert len(_runs(store)) == 2  # the first (178 days old) went, the second (89 days) stayed


GOOD = ("[[connections]]", 'name = "us"', 'marketplaces = ["ATVPDKIKX0DER"]', 'erp = "m3"', "")
GOOD += ("[connections.m3]", 'company = "100"', 'division = "AAA"', "")


def test_keep_runs_days_is_a_store_setting() -> None:
    conn = "\n".join(GOOD)
    assert parse_config("[store]\nkeep_runs_days = 30\n" + conn).keep_runs == timedelta(days=30)
    assert parse_config(conn).keep_runs == timedelta(days=90)
    with pytest.raises(ConfigurationError, match="store.keep_runs_days must be at least 1"):
        parse_config("[store]\nkeep_runs_days = 0\n" + conn)
    with pytest.raises(ConfigurationError, match="did you mean 'keep_runs_days'"):
        parse_config("[store]\nkeep_run_days = 30\n" + conn)


def _plan(store: Store, query: sa.Select) -> str:
    with store.engine.connect() as c:
        sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
        if store.engine.dialect.name == "sqlite":
            return " | ".join(str(row[-1]) for row in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        c.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: ask whether an index can serve it
        return " | ".join(row[0] for row in c.exec_driver_sql(f"EXPLAIN {sql}"))


@pytest.mark.parametrize("ref", ["114-1234567-1234567", "42"])
def test_a_record_looked_up_by_key_uses_an_index(store: Store, ref: str, monkeypatch) -> None:
    store.ensure_record("acme", "sales_order", "114-1234567-1234567", flow="orders")
    captured: list[sa.Select] = []
    execute = sa.orm.Session.scalars

    def spy(self, statement, *args, **kwargs):
        captured.append(statement)
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(sa.orm.Session, "scalars", spy)
    found = store.lookup_records(ref)
    assert [r.key for r in found] == (["114-1234567-1234567"] if ref != "42" else [])
    plan = _plan(store, captured[-1])
    assert "Seq Scan" not in plan and "SCAN records" not in plan.replace("SCAN records USING", ""), plan


def _counted(store: Store) -> dict:
    from ml_connector.engine.models import Record, RecordCount

    with store.session() as s:
        kept = {tuple(r[:4]): r[4] for r in s.execute(sa.select(RecordCount.__table__)) if r[4]}
        real = s.execute(
            sa.select(Record.connection_id, Record.flow, Record.kind, Record.state, sa.func.count()).group_by(
                Record.connection_id, Record.flow, Record.kind, Record.state
            )
        )
        return {"kept": kept, "real": {tuple(r[:4]): r[4] for r in real}}


def test_status_counts_are_kept_equal_to_the_records_through_every_transition(store: Store) -> None:
    from ml_connector.engine.posting import PostingEngine

    from .fakes import FakeTarget, doc

    target = FakeTarget(permanent={"k3": "no"}, transient_posts={"k4": 99})
    engine = PostingEngine(store, "acme", flow="orders")
    for key in ("k1", "k2", "k3", "k4"):
        engine.post(doc(key), target)
    engine.fail("customer", "k5", "mapping gap")
    dup = store.mark_duplicate(
        store.find_record("acme", "customer", "k1").id, ["a", "b"], actor="t", message="m"
    )
    store.reopen(dup.id, actor="t")
    PostingEngine(store, "other", flow="items").post(doc("k1"), target)
    counts = _counted(store)
    assert counts["kept"] == counts["real"] and sum(counts["real"].values()) == 6, counts
    rows = {(r.connection, r.flow, r.kind): r for r in store.status()}
    assert (rows["acme", "orders", "customer"].posted, rows["acme", "orders", "customer"].failed) == (1, 2)
    assert rows["acme", "orders", "customer"].pending == 2
    from ml_connector.ops.queries import list_records

    assert list_records(store, connection="acme", state="failed").total == 2
    assert list_records(store).total == 6 and list_records(store, search="k1").total == 2
    from ml_connector.engine.removal import remove_connection

    remove_connection(store, "other", purge_records=True)
    counts = _counted(store)
    assert counts["kept"] == counts["real"] and sum(counts["real"].values()) == 5, counts


@pytest.mark.postgres
def test_a_cut_connection_is_replaced_on_checkout_without_a_pre_ping(postgres_url: str) -> None:
    with Store.open(postgres_url) as store:
        store.ensure_connection("acme")
        assert not store.engine.pool._pre_ping
        with store.engine.connect() as c:
            pid = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            assert c.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
        admin.dispose()
        import time

        time.sleep(0.2)  # the server's goodbye reaches the pooled socket
        assert store.connection("acme").name == "acme"  # no error: checkout replaced the connection
        with store.engine.connect() as c:
            assert c.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


def _order(*items) -> dict:
    return {"amazon_order_id": "x", "items": list(items)}


def test_the_skus_of_order_records_are_kept_by_the_store(store: Store) -> None:
    owner, ttl = "run-1", timedelta(seconds=90)
    store.claim(
        "acme",
        "sales_order",
        "o-1",
        flow="orders",
        owner=owner,
        ttl=ttl,
        source=_order(
            {"sku": "A", "asin": ""},
            {"sku": "B", "asin": "B000B"},
            {"sku": "A", "asin": "B000A"},
            {"sku": ""},
            "junk",
        ),
    )
    store.mark_failed(
        "acme", "sales_invoice", "o-2", flow="orders", message="gap", source=_order({"sku": "C"})
    )
    store.claim("acme", "sales_order", "o-3", flow="orders", owner=owner, ttl=ttl, source={"items": "none"})
    store.claim(
        "acme", "sales_order", "o-4", flow="orders", owner=owner, ttl=ttl, source=["not", "a", "dict"]
    )
    store.claim("acme", "customer", "c-1", flow="orders", owner=owner, ttl=ttl, source=_order({"sku": "Z"}))
    store.claim(
        "other", "sales_order", "o-1", flow="orders", owner=owner, ttl=ttl, source=_order({"sku": "O"})
    )
    assert store.order_skus("acme") == {"A": "B000A", "B": "B000B", "C": None}
    # a later source (a reclaim with the order read again) brings the ASIN; a known one stays
    store.claim(
        "acme",
        "sales_invoice",
        "o-2",
        flow="orders",
        owner=owner,
        ttl=ttl,
        source=_order({"sku": "C", "asin": "B000C"}, {"sku": "B", "asin": "B999"}),
    )
    assert store.order_skus("acme") == {"A": "B000A", "B": "B000B", "C": "B000C"}
    assert store.order_skus("other") == {"O": None}


def test_the_migration_adds_the_skus_of_existing_order_records(database_url: str) -> None:
    import json
    from datetime import UTC, datetime

    with Store.open(database_url, migrate_to="0005") as old:  # before order_skus existed
        cid = old.ensure_connection("acme", erp="m3").id
        source = json.dumps(_order({"sku": "A", "asin": "B000A"}, {"sku": "B"}))
        now = datetime.now(UTC).replace(tzinfo=None)
        with old.engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO records (connection_id, kind, key, flow, state, attempts, source, claim_token,"
                    " created_at, updated_at) VALUES (:c, 'sales_order', 'o-1', 'orders', 'pending', 0, :s, 0,"
                    " :t, :t)"
                ),
                {"c": cid, "s": source, "t": now},
            )
    with Store.open(database_url) as new:
        assert new.order_skus("acme") == {"A": "B000A", "B": None}
        assert [(r.flow, r.kind, r.pending) for r in new.status()] == [("orders", "sales_order", 1)]
