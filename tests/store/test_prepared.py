"""Prepared reads give what SQLAlchemy's own execution gives, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import JSON, bindparam, column, literal, select, table
from sqlalchemy.exc import DBAPIError

from pinwarden.store.db import Database
from pinwarden.store.prepared import PreparedRead
from pinwarden.store.tables import Workspace

CREATED = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

BY_CREATED = (
    select(Workspace.workspace_id, Workspace.is_sandbox, Workspace.created_at, Workspace.name)
    .where(Workspace.created_at > bindparam("after"), Workspace.is_sandbox == bindparam("sandbox"))
    .order_by(Workspace.created_at)
)


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    with database.write() as session:
        for n, sandbox in enumerate([True, False]):
            session.add(
                Workspace(
                    workspace_id=f"ws{n}",
                    name=f"Workspace {n}",
                    company_name="",
                    is_sandbox=sandbox,
                    created_at=CREATED + timedelta(seconds=n),
                )
            )
    return database


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_prepared_read_binds_and_reads_as_sqlalchemy_does(db: Database, sandbox: bool) -> None:
    values = {"after": CREATED - timedelta(microseconds=1), "sandbox": sandbox}
    with db.rows() as conn:
        expected = conn.execute(BY_CREATED, values).first()
        got = PreparedRead(BY_CREATED).first(conn, values)
    assert expected is not None and got == tuple(expected)
    workspace_id, is_sandbox, created_at, _name = got
    # Timestamps come back aware and exact, booleans as booleans (SQLite stores 0/1).
    assert is_sandbox is sandbox and created_at.tzinfo is not None
    assert created_at == CREATED + timedelta(seconds=0 if sandbox else 1)
    assert workspace_id == ("ws0" if sandbox else "ws1")


def test_a_prepared_read_with_no_match_is_none(db: Database) -> None:
    values = {"after": CREATED + timedelta(days=1), "sandbox": True}
    with db.rows() as conn:
        assert PreparedRead(BY_CREATED).first(conn, values) is None


def test_a_failing_prepared_read_raises_sqlalchemys_error(db: Database) -> None:
    nowhere = table("no_such_table", column("key_id"))
    missing = select(nowhere.c.key_id).where(nowhere.c.key_id == bindparam("key_id"))
    with db.rows() as conn, pytest.raises(DBAPIError):
        PreparedRead(missing).first(conn, {"key_id": "k"})


def test_parameters_go_through_their_types_bind_processors(db: Database) -> None:
    # The drivers cannot take a dict, and JSON's None is the text null: only the type's
    # own processing, as SQLAlchemy does it, gives back what was bound.
    echo = select(bindparam("doc", type_=JSON).label("doc"))
    with db.rows() as conn:
        for doc in ({"a": [1, True]}, None):
            expected = conn.execute(echo, {"doc": doc}).first()
            assert expected is not None
            assert PreparedRead(echo).first(conn, {"doc": doc}) == tuple(expected)


def test_statements_rewritten_per_execution_are_refused(database_url: str) -> None:
    dialect = Database(database_url).engine.dialect
    listed = select(Workspace.workspace_id).where(
        Workspace.workspace_id.in_(bindparam("ids", expanding=True))
    )
    literal_limit = select(Workspace.workspace_id).limit(literal(1, literal_execute=True))
    for statement in (listed, literal_limit):
        with pytest.raises(ValueError, match="run time"):
            PreparedRead(statement)._compiled(dialect)
