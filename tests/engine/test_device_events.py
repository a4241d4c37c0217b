"""The engine's side of what locks report, and of how it reads and trusts them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from pinwarden.devices.driver import (
    BatteryLevel,
    Connectivity,
    DeviceRef,
    KeypadUnlock,
    ManualLockChange,
    OpAck,
    SlotChanged,
)
from pinwarden.engine import device_events
from pinwarden.store.tables import Device, Event
from pinwarden.store.views import device_view
from tests.engine.conftest import Engine
from tests.sandbox import set_faults

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def _payloads(engine: Engine, event_type: str) -> list[dict[str, Any]]:
    with engine.service.db.read() as s:
        rows = s.query(Event).filter(Event.event_type == event_type).order_by(Event.seq).all()
        return [r.payload for r in rows]


def test_a_keypad_unlock_names_the_code_and_uses_up_a_one_time_code(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    once = engine.create(lock.device_id, code="4821", is_one_time_use=True)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(once["access_code_id"]).status == "set"  # type: ignore[union-attr]
    slot = engine.code(once["access_code_id"]).slot  # type: ignore[union-attr]
    woke = engine.service.device_events.record(
        "sandbox", KeypadUnlock(lock.address, engine.clock.now(), slot)
    )
    assert woke
    [unlocked] = _payloads(engine, "lock.unlocked")
    assert (unlocked["method"], unlocked["access_code_id"], unlocked["access_code_is_managed"]) == (
        "keycode",
        once["access_code_id"],
        True,
    )
    assert engine.code(once["access_code_id"]).status == "removing"  # type: ignore[union-attr]
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(once["access_code_id"]) is None
    assert engine.lock_pins(lock.device_id) == []


def test_connectivity_lock_state_and_battery_follow_the_lock(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    now = engine.clock.now()
    record = engine.service.device_events.record
    assert record("sandbox", Connectivity(lock.address, now, online=False))
    assert not record("sandbox", Connectivity(lock.address, now, online=False))  # no change
    assert not record("sandbox", ManualLockChange(lock.address, now, locked=False))
    assert not record("sandbox", BatteryLevel(lock.address, now, 0.18))
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None
        view = device_view(device)
    assert view["properties"]["online"] is False and view["properties"]["locked"] is False
    # The error shows with the report, before any reconcile has tried the lock.
    assert [e["error_code"] for e in view["errors"]] == ["device_offline"]
    assert view["properties"]["battery"] == {"level": 0.18, "status": "low"}
    assert engine.events() == ["device.disconnected", "lock.unlocked"]
    assert _payloads(engine, "device.disconnected")[0]["error_code"] == "device_disconnected"
    assert not record("sandbox", BatteryLevel("no-such-lock", now, 0.5))
    assert record("sandbox", Connectivity(lock.address, now, online=True))
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None
        assert device.online is True and device.errors == []


def test_a_burst_is_recorded_in_order_and_one_bad_event_loses_no_other(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    yale, august = engine.device("yale_lock"), engine.device("august_lock")
    now = engine.clock.now()
    events = engine.service.device_events
    burst = [
        ManualLockChange(august.address, now, locked=False),
        BatteryLevel("no-such-lock", now, 0.5),
        ManualLockChange(yale.address, now, locked=True),
        ManualLockChange(august.address, now, locked=True),
    ]
    assert not events.record_all("sandbox", burst)
    assert engine.events() == ["lock.unlocked", "lock.locked", "lock.locked"]
    with engine.service.db.read() as s:
        assert [e.device_id for e in s.query(Event).order_by(Event.seq)] == [
            august.device_id,
            yale.device_id,
            august.device_id,
        ]
    recorded = device_events.record_device_event

    def failing(session: Any, device: Device, event: Any) -> bool:
        if isinstance(event, BatteryLevel):
            raise RuntimeError("cannot record this one")
        return recorded(session, device, event)

    monkeypatch.setattr(device_events, "record_device_event", failing)
    asyncio.run(
        events._handle(
            "sandbox",
            [
                ManualLockChange(yale.address, now, locked=False),
                BatteryLevel(yale.address, now, 0.4),
                Connectivity(yale.address, now, online=False),
            ],
        )
    )
    assert engine.events()[3:] == ["lock.unlocked", "device.disconnected"]


def test_reads_are_fresh_on_the_drift_check_and_after_a_slot_changed(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    driver = engine.service.integrations.sandbox
    original = driver.read_slots
    fresh_flags: list[bool] = []

    async def recording(device: DeviceRef, fresh: bool) -> list[Any]:
        if device.device_id == lock.device_id:
            fresh_flags.append(fresh)
        return await original(device, fresh)

    driver.read_slots = recording  # type: ignore[method-assign]
    code = engine.create(lock.device_id, code="4821")
    engine.drain()  # cached: the fixture's first pass read the lock itself
    engine.advance(SECOND)  # fresh: checking the acknowledged set landed
    engine.update(code["access_code_id"], name="renamed")
    engine.drain()  # cached: nothing in flight, drift check not due
    engine.service.device_events.record("sandbox", SlotChanged(lock.address, engine.clock.now()))
    engine.drain()  # fresh: the lock said a slot changed
    engine.advance(HOUR)  # fresh: the drift check
    assert fresh_flags == [False, True, False, True, True]


def test_a_confirmed_write_counts_without_waiting_for_it_to_settle(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    set_faults(engine.service.db, lock.device_id, {"latency_ms": 0})
    driver = engine.service.integrations.sandbox
    original = driver.apply

    async def confirming(device: DeviceRef, ops: Any) -> Any:
        outcomes = await original(device, ops)
        # A supervised write: verified at once, though the lock quotes a long settle time.
        return [
            OpAck(o.settles_at + HOUR, confirmed=True) if isinstance(o, OpAck) else o
            for o in outcomes
        ]

    driver.apply = confirming  # type: ignore[method-assign]
    code = engine.create(lock.device_id, code="4821")
    engine.drain()
    row = engine.code(code["access_code_id"])
    assert row is not None and row.status == "set"
    assert row.op_settles_at is None
