"""Discovery: an account's locks become devices, vanish as devices, and keep their
capabilities current."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from pinwarden.devices.driver import AccountRef, DiscoveredLock
from pinwarden.engine.discovery import sync_account
from pinwarden.sandbox.models import LOCK_MODELS
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.store.tables import ConnectedAccount, Device
from pinwarden.store.views import device_view
from tests.engine.conftest import Engine


def _account_devices(engine: Engine, account_id: str) -> list[Device]:
    with engine.service.db.read() as s:
        return list(s.scalars(select(Device).where(Device.connected_account_id == account_id)))


def test_new_locks_are_added_vanished_ones_removed(engine: Engine) -> None:
    yale = engine.device("yale_lock")
    account = yale.connected_account_id
    new_lock = str(uuid.uuid4())
    with engine.service.db.write() as s:
        s.add(
            SandboxLock(
                lock_id=new_lock,
                connected_account_id=account,
                model_key="schlage_encode",
                online=True,
                battery_level=0.42,
                faults={},
                used_offline_pins=[],
            )
        )
    assert asyncio.run(engine.service.discovery.run_once()) == 1
    devices = {d.address: d for d in _account_devices(engine, account)}
    assert set(devices) == {yale.address, new_lock}
    added = devices[new_lock]
    view = device_view(added)
    assert view["device_type"] == "schlage_lock"
    assert view["properties"]["battery_level"] == 0.42
    assert view["properties"]["max_active_codes_supported"] == 100
    assert added.next_reconcile_at is not None
    assert engine.events().count("device.added") == 1
    # Nothing new: a second round adds nothing and records nothing.
    assert asyncio.run(engine.service.discovery.run_once()) == 0
    assert engine.events().count("device.added") == 1

    code = engine.create(yale.device_id, code="4821")
    with engine.service.db.write() as s:
        lock = s.get(SandboxLock, yale.address)
        assert lock is not None
        s.delete(lock)
    asyncio.run(engine.service.discovery.run_once())
    assert [d.address for d in _account_devices(engine, account)] == [new_lock]
    assert engine.code(code["access_code_id"]) is None
    assert engine.events().count("device.removed") == 1


def test_changed_capabilities_are_stored_and_the_lock_planned_again(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    engine.drain()
    with engine.service.db.write() as s:
        s.get(SandboxLock, lock.address).model_key = "nuki_smart_lock_4"  # type: ignore[union-attr]
    asyncio.run(engine.service.discovery.run_once())
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None
        assert device.caps == LOCK_MODELS["nuki_smart_lock_4"]
        assert device.next_reconcile_at == engine.clock.now()
    assert engine.drain() == 1


def test_a_stale_discovery_does_not_bring_back_a_lock_removed_meanwhile(engine: Engine) -> None:
    yale = engine.device("yale_lock")
    driver = engine.service.integrations.sandbox
    original = driver.discover

    async def discover_then_remove(account: AccountRef) -> list[DiscoveredLock]:
        found = await original(account)
        if account.connected_account_id == yale.connected_account_id:
            # While this answer travels back, the lock leaves and the account is synced.
            with engine.service.db.write() as s:
                s.delete(s.get(SandboxLock, yale.address))
                account_row = s.get(ConnectedAccount, account.connected_account_id)
                assert account_row is not None
                sync_account(s, account_row, [], engine.clock.now())
        return found

    driver.discover = discover_then_remove  # type: ignore[method-assign]
    asyncio.run(engine.service.discovery.run_once())
    assert _account_devices(engine, yale.connected_account_id) == []
    assert engine.events().count("device.added") == 0
    assert engine.events().count("device.removed") == 1
