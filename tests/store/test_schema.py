"""Migrations and models agree, and the database handle behaves on both backends."""

from __future__ import annotations

import threading

from alembic import command
from sqlalchemy import select

from pinwarden.store.db import Database, normalize_url
from pinwarden.store.migrate import alembic_config
from pinwarden.store.tables import Workspace
from pinwarden.store.workspaces import create_workspace
from tests.conftest import START


def test_migrations_match_the_models(database_url: str) -> None:
    command.check(alembic_config(database_url))


def test_postgres_urls_use_psycopg() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_the_url_shown_to_operators_hides_the_password() -> None:
    db = Database("postgresql://pinwarden:s3cret@db.internal:5432/locks")
    assert db.display_url == "postgresql+psycopg://pinwarden:***@db.internal:5432/locks"
    db.dispose()


def test_failed_write_leaves_nothing_behind(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.write() as session:
            create_workspace(session, "doomed", True, START)
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with db.read() as session:
        assert session.scalars(select(Workspace)).all() == []
    db.dispose()


def test_concurrent_writers_do_not_fail(database_url: str) -> None:
    db = Database(database_url)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with db.write() as session:
                    create_workspace(session, f"w{n}-{i}", False, START)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        assert len(session.scalars(select(Workspace)).all()) == 60
    db.dispose()
