"""Migration 0012 indexes events by creation time, and its downgrade drops the index."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from pinwarden.store.migrate import alembic_config
from tests.store.test_sandbox_migration import blank_url  # noqa: F401 (a fixture)


def _indexes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {str(i["name"]) for i in inspect(engine).get_indexes("events")}
    finally:
        engine.dispose()


def test_the_events_created_index_comes_and_goes(blank_url: str) -> None:  # noqa: F811
    config = alembic_config(blank_url)
    command.upgrade(config, "0012")
    assert "ix_events_created" in _indexes(blank_url)
    command.downgrade(config, "0011")
    assert "ix_events_created" not in _indexes(blank_url)
    command.upgrade(config, "0012")
    assert "ix_events_created" in _indexes(blank_url)
