"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from pinwarden.store.db import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The revision the newest migration in ``migrations/versions`` ends at (a test checks it
# against Alembic's own reading). Knowing it without Alembic lets a process on an
# up-to-date database skip loading Alembic and its scripts (about 1.4 s per CLI command):
# see :meth:`pinwarden.service.Service.migrate`.
HEAD = "0013"
HEADS = frozenset({HEAD})
VERSION_TABLE = "alembic_version"


class MigrationError(Exception):
    """Alembic could not bring the schema to the wanted revision."""


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` with Alembic; raises :class:`MigrationError`."""
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.upgrade(alembic_config(database_url), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revisions the database is at (empty before the first migration)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))
