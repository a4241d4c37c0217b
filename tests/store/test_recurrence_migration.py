"""Migration 0011 adds the recurrence column of access codes, and its downgrade drops it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from pinwarden.store.migrate import alembic_config
from tests.store.test_sandbox_migration import blank_url  # noqa: F401 (a fixture)


def _columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("access_codes")}
    finally:
        engine.dispose()


def test_the_recurrence_column_comes_and_goes(blank_url: str) -> None:  # noqa: F811
    config = alembic_config(blank_url)
    command.upgrade(config, "0011")
    assert "recurrence" in _columns(blank_url)
    command.downgrade(config, "0010")
    assert "recurrence" not in _columns(blank_url)
    command.upgrade(config, "0011")
    assert "recurrence" in _columns(blank_url)
