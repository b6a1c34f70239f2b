"""What one posted record costs the store: transactions, statements and PostgreSQL round trips.

Counted with SQLAlchemy events on the store's engine while records are posted through the real
PostingEngine into the fake target. A transaction is a BEGIN the driver sends (an autocommit
statement is its own, counted as a statement only); a PostgreSQL round trip is every statement,
BEGIN and COMMIT sent to the server (with pre-ping off, nothing else is).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import event

from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store

from .fakes import FakeTarget, doc

RECORDS = 20


@dataclass
class Counts:
    transactions: int = 0
    commits: int = 0
    statements: int = 0
    autocommit: int = 0

    @property
    def round_trips(self) -> int:
        return self.statements + self.transactions + self.commits


def _count(store: Store) -> Counts:
    counts = Counts()

    def autocommit(conn) -> bool:
        return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    @event.listens_for(store.engine, "begin")
    def _begin(conn) -> None:
        if not autocommit(conn):
            counts.transactions += 1

    @event.listens_for(store.engine, "commit")
    def _commit(conn) -> None:
        if not autocommit(conn):
            counts.commits += 1

    @event.listens_for(store.engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper().startswith("BEGIN"):
            return  # SQLite's BEGIN IMMEDIATE, already counted as the transaction
        counts.statements += 1
        if autocommit(conn):
            counts.autocommit += 1

    return counts


@pytest.fixture
def store(database_url: str):
    with Store.open(database_url) as s:
        s.ensure_connection("acme", erp="m3")
        yield s


def test_posting_a_record_costs_two_transactions_and_at_most_six_statements(store: Store) -> None:
    target = FakeTarget()
    engine = PostingEngine(store, "acme", flow="orders")
    engine.post(doc("warm-up"), target)  # the pool's first connection, compiled statements
    counts = _count(store)
    for i in range(RECORDS):
        assert engine.post(doc(f"key-{i}"), target).state == "posted"
    per = {k: v / RECORDS for k, v in vars(counts).items()} | {"round_trips": counts.round_trips / RECORDS}
    assert target.counts() == {f"key-{i}": 1 for i in range(RECORDS)} | {"warm-up": 1}
    print(store.engine.dialect.name, per)
    assert per["transactions"] <= 2, per
    assert per["statements"] <= 6, per
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as c:  # the fence's autocommit left no sqlite3 implicit BEGINs behind
            assert c.connection.dbapi_connection.isolation_level is None
    if store.engine.dialect.name == "postgresql":
        assert not store.engine.pool._pre_ping  # a ping would add a round trip per transaction
        assert per["round_trips"] <= 8, per


def test_a_record_already_posted_costs_one_transaction(store: Store) -> None:
    target = FakeTarget()
    engine = PostingEngine(store, "acme", flow="orders")
    engine.post(doc("k"), target)
    counts = _count(store)
    result = engine.post(doc("k"), target)
    assert result.already and result.state == "posted"
    assert counts.transactions + counts.autocommit <= 1, counts
    assert target.finds == 1  # the ERP was not asked again
