"""Door commands in the engine: run by the device's pass, in order, once, on a fake clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pinwarden.api.routes import locks
from pinwarden.devices.driver import DeviceRef, OpOutcome
from pinwarden.engine.doors import EXPIRES_AFTER
from pinwarden.store.tables import ActionAttempt, Device, Event
from tests.engine.conftest import Engine
from tests.sandbox import set_faults


def _queue(engine: Engine, device_id: str, *commands: str) -> list[str]:
    """Queue door commands through the API handlers; their attempt ids."""
    ids = []
    for command in commands:
        handler = locks.lock_door if command == "lock" else locks.unlock_door
        view = handler(engine.ctx, locks.DoorParams(device_id=device_id))["action_attempt"]
        assert view["status"] == "pending"
        ids.append(view["action_attempt_id"])
    return ids


def _attempts(engine: Engine, ids: list[str]) -> list[tuple[str, dict[str, Any] | None]]:
    with engine.service.db.read() as s:
        rows = {a.action_attempt_id: a for a in s.scalars(select(ActionAttempt))}
    return [(rows[i].status, rows[i].error) for i in ids]


def _locked(engine: Engine, device_id: str) -> bool:
    with engine.service.db.read() as s:
        device = s.get(Device, device_id)
        assert device is not None
        return device.locked


def _lock_events(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.service.db.read() as s:
        rows = s.scalars(
            select(Event).where(Event.event_type.like("lock.%")).order_by(Event.seq)
        ).all()
        return [(r.event_type, r.payload["method"], r.payload["action_attempt_id"]) for r in rows]


@pytest.fixture
def calls(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every ``set_locked`` the sandbox driver is asked for, in order."""
    driver = engine.service.integrations.sandbox
    seen: list[bool] = []
    inner = driver.set_locked

    async def recording(device: DeviceRef, locked: bool) -> OpOutcome:
        seen.append(locked)
        return await inner(device, locked)

    monkeypatch.setattr(driver, "set_locked", recording)
    return seen


def test_queued_commands_run_oldest_first_in_one_pass(engine: Engine, calls: list[bool]) -> None:
    lock = engine.device("yale_lock")
    # The clock stands still: the commands' creation times tie, their order does not.
    ids = _queue(engine, lock.device_id, "unlock", "lock", "unlock")
    assert engine.drain() == 1
    assert calls == [False, True, False]
    assert _attempts(engine, ids) == [("success", None)] * 3
    assert _locked(engine, lock.device_id) is False
    assert _lock_events(engine) == [
        ("lock.unlocked", "seamapi", ids[0]),
        ("lock.locked", "seamapi", ids[1]),
        ("lock.unlocked", "seamapi", ids[2]),
    ]
    assert engine.drain() == 0  # nothing left to do: no command runs twice
    assert calls == [False, True, False]


def test_an_offline_lock_fails_the_command_once_and_never_retries_it(
    engine: Engine, calls: list[bool]
) -> None:
    lock = engine.device("kwikset_lock")
    engine.set_online(lock.device_id, False)
    engine.drain()
    [attempt] = _queue(engine, lock.device_id, "unlock")
    engine.drain()
    [(status, error)] = _attempts(engine, [attempt])
    assert status == "error" and error is not None
    assert error["type"] == "device_offline" and "Could not unlock the door" in error["message"]
    assert _locked(engine, lock.device_id) is True and _lock_events(engine) == []
    engine.set_online(lock.device_id, True)
    engine.advance(timedelta(hours=1))
    assert calls == [False]  # tried once, not again when the lock came back


def test_a_command_nobody_ran_in_time_expires_instead_of_moving_the_bolt(
    engine: Engine, calls: list[bool]
) -> None:
    lock = engine.device("august_lock")
    [stale] = _queue(engine, lock.device_id, "unlock")
    engine.clock.advance(EXPIRES_AFTER + timedelta(seconds=1))  # no worker ran meanwhile
    [fresh] = _queue(engine, lock.device_id, "lock")
    engine.drain()
    [(status, error), done] = _attempts(engine, [stale, fresh])
    assert status == "error" and error is not None and error["type"] == "action_attempt_expired"
    assert done == ("success", None)
    assert calls == [True]


def test_a_rejected_command_fails_with_the_locks_refusal(engine: Engine) -> None:
    lock = engine.device("tedee_lock")
    set_faults(engine.service.db, lock.device_id, {"reject_rate": 1.0})
    [attempt] = _queue(engine, lock.device_id, "lock")
    engine.drain()
    [(status, error)] = _attempts(engine, [attempt])
    assert status == "error" and error is not None
    assert error["type"] == "action_rejected_by_device"
