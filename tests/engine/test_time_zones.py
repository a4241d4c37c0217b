"""Time-bound codes on a lock that schedules in local time (the sandbox TTLock), across both
2025 DST transitions in New York: the keypad opens exactly from ``starts_at`` to
``ends_at`` in UTC, never an hour off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from pinwarden.api.routes import devices
from pinwarden.devices import simulated
from pinwarden.devices.driver import DeviceRef, DeviceRejected, SlotOp
from pinwarden.devices.simulated import keypad_accepts
from pinwarden.domain.localtime import Window
from pinwarden.store.tables import Device, SimulatedSlot
from tests.engine.conftest import Engine

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
NEW_YORK = "America/New_York"
PIN = "2461"  # this TTLock only has the digits 1-6


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def set_time_zone(engine: Engine, device_id: str, zone: str) -> None:
    devices.update(
        engine.ctx,
        devices.UpdateParams.model_validate(
            {"device_id": device_id, "location": {"timezone": zone}}
        ),
    )


def opens(engine: Engine, device_id: str, at: datetime) -> bool:
    """Move the clock to ``at``, let the engine do what is due, and try the PIN."""
    engine.clock.set(at)
    engine.drain()
    with engine.service.db.read() as s:
        return keypad_accepts(s, device_id, PIN, at) is not None


def load_natively(engine: Engine, starts: datetime, ends: datetime) -> tuple[str, str]:
    """A New York TTLock with a code for ``starts``–``ends`` loaded with its window."""
    lock = engine.device("ttlock_lock").device_id
    set_time_zone(engine, lock, NEW_YORK)
    engine.clock.set(starts - 24 * HOUR)
    cid = engine.create(lock, code=PIN, starts_at=starts, ends_at=ends)["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("unset", True)
    return lock, cid


WINDOWS = {
    # 01:30 EST to 03:30 EDT: 02:00-03:00 never happens, so the code works one hour.
    "across spring-forward": ("2025-03-09T06:30:00", "2025-03-09T07:30:00"),
    # 01:30 EDT to 02:30 EST: the 1 am hour happens twice, so the code works three hours.
    "across fall-back": ("2025-11-02T05:30:00", "2025-11-02T07:30:00"),
    # 01:15 to 01:45 EST: the second pass through the 1 am hour only (fold=1).
    "inside the repeated hour": ("2025-11-02T06:15:00", "2025-11-02T06:45:00"),
    # 01:45 EDT to 01:15 EST: on the wall clock it ends before it starts.
    "from the first pass into the second": ("2025-11-02T05:45:00", "2025-11-02T06:15:00"),
}


@pytest.mark.parametrize(("starts_text", "ends_text"), WINDOWS.values(), ids=WINDOWS.keys())
def test_keypad_opens_exactly_for_the_utc_window(
    engine: Engine, starts_text: str, ends_text: str
) -> None:
    starts, ends = utc(starts_text), utc(ends_text)
    lock, cid = load_natively(engine, starts, ends)
    # An hour early would be the same wall-clock time in the other pass or offset.
    assert not opens(engine, lock, starts - HOUR)
    assert not opens(engine, lock, starts - SECOND)
    assert opens(engine, lock, starts)
    assert opens(engine, lock, ends - SECOND)
    assert not opens(engine, lock, ends)
    engine.advance(SECOND)
    # Read back through local time every pass, the window matched: loaded once, never
    # reprogrammed.
    assert engine.events(cid) == [
        "access_code.created",
        "access_code.scheduled_on_device",
        "access_code.set_on_device",
        "access_code.removed_from_device",
    ]
    assert engine.code(cid) is None


def test_the_lock_reports_its_window_back_unchanged(engine: Engine) -> None:
    starts, ends = utc("2025-11-02T06:15:00"), utc("2025-11-02T06:45:00")
    lock, _ = load_natively(engine, starts, ends)
    driver = engine.service.reconciler.drivers["simulated"]
    slots = asyncio.run(driver.read_slots(engine._ref(lock)))
    assert [(s.code, s.starts_at, s.ends_at) for s in slots] == [(PIN, starts, ends)]


def test_wall_clock_times_without_their_fold_would_open_the_lock_an_hour_early(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the fold matters: sent 01:15-01:45 without saying which pass, the lock takes
    the first one."""
    to_local = simulated.window_to_local

    def without_fold(window: Window, zone: object) -> Window:
        starts, ends = to_local(window, zone)  # type: ignore[arg-type]
        return starts.replace(fold=0), ends.replace(fold=0)

    monkeypatch.setattr(simulated, "window_to_local", without_fold)
    lock = engine.device("ttlock_lock").device_id
    set_time_zone(engine, lock, NEW_YORK)
    starts = utc("2025-11-02T06:15:00")
    engine.clock.set(starts - 24 * HOUR)
    engine.create(lock, code=PIN, starts_at=starts, ends_at=starts + 30 * 60 * SECOND)
    engine.drain()
    engine.advance(SECOND)
    assert opens(engine, lock, starts - HOUR)
    assert not opens(engine, lock, starts)


def test_without_a_zone_the_lock_gets_codes_just_in_time_until_one_is_set(
    engine: Engine,
) -> None:
    lock = engine.device("ttlock_lock").device_id
    with engine.service.db.write() as s:
        device = s.get(Device, lock)
        assert device is not None
        device.time_zone = None
    starts = engine.clock.now() + 10 * HOUR
    cid = engine.create(lock, code=PIN, starts_at=starts, ends_at=starts + 2 * HOUR)[
        "access_code_id"
    ]
    engine.drain()
    engine.advance(SECOND)
    assert engine.lock_pins(lock) == []  # not pre-loaded with a window in a guessed zone
    engine.clock.set(starts - HOUR)
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("set", False)
    ends = starts + 2 * HOUR
    assert opens(engine, lock, ends)  # pinwarden removes it now; the lock takes a second
    assert not opens(engine, lock, ends + SECOND)


def test_setting_the_zone_loads_waiting_codes_with_their_window(engine: Engine) -> None:
    lock = engine.device("ttlock_lock").device_id
    with engine.service.db.write() as s:
        device = s.get(Device, lock)
        assert device is not None
        device.time_zone = None
    starts = engine.clock.now() + 10 * HOUR
    cid = engine.create(lock, code=PIN, starts_at=starts, ends_at=starts + 2 * HOUR)[
        "access_code_id"
    ]
    engine.drain()
    engine.advance(SECOND)
    assert engine.lock_pins(lock) == []
    set_time_zone(engine, lock, NEW_YORK)
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("unset", True)
    assert not opens(engine, lock, starts - SECOND)
    assert opens(engine, lock, starts)
    with engine.service.db.read() as s:
        writes = s.scalar(
            select(func.count()).select_from(SimulatedSlot).where(SimulatedSlot.device_id == lock)
        )
    assert writes == 1


def test_the_driver_refuses_a_schedule_for_a_local_time_lock_without_a_zone(
    engine: Engine,
) -> None:
    lock = engine.device("ttlock_lock")
    driver = engine.service.reconciler.drivers["simulated"]
    window = (utc("2025-03-09T06:30:00"), utc("2025-03-09T07:30:00"))
    outcomes = asyncio.run(
        driver.apply(
            DeviceRef(lock.device_id, lock.model_key, None), [SlotOp("set", 1, PIN, None, window)]
        )
    )
    assert [type(o) for o in outcomes] == [DeviceRejected]
    engine.advance(SECOND)
    assert engine.lock_pins(lock.device_id) == []
