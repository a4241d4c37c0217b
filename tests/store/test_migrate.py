"""Migrating: the head this code knows without Alembic is Alembic's own, an up-to-date
database is left alone, and one from a newer version is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from pinwarden.store import migrate
from pinwarden.store.db import normalize_url
from tests.processes import PINWARDEN


def test_the_known_head_is_where_the_migrations_end() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert frozenset(scripts.get_heads()) == migrate.HEADS


_MIGRATE_AND_SAY_IF_ALEMBIC_LOADED = """
import sys
from dataclasses import replace
from pinwarden.config import Settings
from pinwarden.service import Service
Service(replace(Settings(), database_url=sys.argv[1], run_worker=False)).migrate()
print("alembic" in sys.modules)
"""


def _set_version(url: str, revision: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_at_head_is_left_alone_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert migrate.current_revisions(connection) == migrate.HEADS
    engine.dispose()
    # A process that migrates a database already at head never loads Alembic.
    loaded = subprocess.run(
        [sys.executable, "-c", _MIGRATE_AND_SAY_IF_ALEMBIC_LOADED, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.split() == ["False"]
    _set_version(url, "9999")
    with pytest.raises(migrate.MigrationError, match="9999"):
        migrate.upgrade(url)
    out = subprocess.run(
        [*PINWARDEN, "devices", "list"],
        env=dict(os.environ, PINWARDEN_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: cannot migrate database sqlite:///")
    assert "9999" in out.stderr


def test_a_blank_database_reads_as_no_revision(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    with engine.connect() as connection:
        assert migrate.current_revisions(connection) == frozenset()
    engine.dispose()
