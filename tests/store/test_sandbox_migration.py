"""Migration 0003 moves each sandbox lock's state out of the core tables and back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from pinwarden.devices.capabilities import LockCapabilities
from pinwarden.sandbox.models import LOCK_MODELS
from pinwarden.store.migrate import alembic_config
from tests.conftest import PG_URL

NOW = "2025-01-01 12:00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    request.getfixturevalue("_pg_schema_url")  # skips when PostgreSQL is not there
    schema = f"pw_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_sandbox_state_moves_to_the_sandbox_tables_and_back(blank_url: str) -> None:
    config = alembic_config(blank_url)
    command.upgrade(config, "0002")
    engine = create_engine(blank_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspaces VALUES ('w', 'W', 'W', true, :now)"
                if engine.dialect.name == "postgresql"
                else "INSERT INTO workspaces VALUES ('w', 'W', 'W', 1, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO connected_accounts (connected_account_id, workspace_id, provider,"
                " created_at) VALUES ('a', 'w', 'yale', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO devices (device_id, workspace_id, connected_account_id, driver,"
                " model_key, name, custom_metadata, online, locked, errors, created_at,"
                " sim_faults, wake_seq, failure_count, sim_used_offline_pins,"
                " backup_pool_enabled) VALUES ('d', 'w', 'a', 'simulated',"
                " 'yale_assure_lock_2', 'Side Door', '{}', false, true, '[]', :now,"
                " '{\"mask_pins\": true}', 0, 0, '[\"123456\"]', false)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO simulated_slots (device_id, slot, code, visible_from)"
                " VALUES ('d', 3, '4821', :now)"
            ),
            {"now": NOW},
        )
    command.upgrade(config, "0003")
    with engine.connect() as conn:
        device = conn.execute(
            text("SELECT driver, address, capabilities, battery_level FROM devices")
        ).one()
        lock = conn.execute(
            text("SELECT lock_id, connected_account_id, model_key, online FROM sandbox_locks")
        ).one()
        slots = conn.execute(text("SELECT lock_id, slot, code FROM sandbox_slots")).all()
        account = conn.execute(text("SELECT driver FROM connected_accounts")).scalar_one()
    capabilities = device.capabilities
    if isinstance(capabilities, str):  # SQLite hands raw JSON back
        capabilities = json.loads(capabilities)
    assert (device.driver, device.address, device.battery_level) == ("sandbox", "d", 0.9)
    assert LockCapabilities.from_json(capabilities) == LOCK_MODELS["yale_assure_lock_2"]
    assert tuple(lock) == ("d", "a", "yale_assure_lock_2", False)
    assert [tuple(s) for s in slots] == [("d", 3, "4821")]
    assert account == "sandbox"
    command.downgrade(config, "0002")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT driver, model_key, online, sim_faults, sim_used_offline_pins FROM devices")
        ).one()
        old_slots = conn.execute(text("SELECT device_id, slot, code FROM simulated_slots")).all()
    engine.dispose()
    faults, used = (json.loads(v) if isinstance(v, str) else v for v in back[3:])
    assert tuple(back[:3]) == ("simulated", "yale_assure_lock_2", False)
    assert (faults, used) == ({"mask_pins": True}, ["123456"])
    assert [tuple(s) for s in old_slots] == [("d", 3, "4821")]
