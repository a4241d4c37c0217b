"""The reconciler on a fake clock: lifecycle, catch-up, faults, races."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from pinwarden.devices.driver import DeviceRef, DeviceRejected
from pinwarden.sandbox.lock import edit_at_keypad
from pinwarden.sandbox.routes import SandboxRoutes, UnmanagedParams
from pinwarden.sandbox.tables import SandboxSlot
from pinwarden.store.tables import ActionAttempt, Device
from tests.engine.conftest import Engine
from tests.sandbox import set_faults

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def count_lock_reads(engine: Engine, device_id: str) -> list[object]:
    """Record every read of one lock's slots."""
    driver = engine.service.integrations.sandbox
    original = driver.read_slots
    calls: list[object] = []

    async def counting(device: DeviceRef, fresh: bool) -> list[Any]:
        if device.device_id == device_id:
            calls.append(engine.clock.now())
        return await original(device, fresh)

    driver.read_slots = counting  # type: ignore[method-assign]
    return calls


def test_ongoing_code_is_programmed_and_confirmed(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4821")
    engine.drain()
    assert engine.code(code["access_code_id"]).status == "setting"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == []
    engine.advance(SECOND)
    assert engine.code(code["access_code_id"]).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["4821"]
    assert engine.events(code["access_code_id"]) == [
        "access_code.created",
        "access_code.set_on_device",
    ]


def test_a_lock_that_takes_a_code_at_once_has_it_set_by_the_pass_that_sent_it(
    instant_engine: Engine,
) -> None:
    engine = instant_engine
    lock = engine.device("august_lock")
    cid = engine.create(lock.device_id, code="4821")["access_code_id"]
    # The pass reads the lock back once its operations settled, and records what it finds.
    assert engine.drain() == 1
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["4821"]
    assert engine.events(cid) == ["access_code.created", "access_code.set_on_device"]
    engine.update(cid, code="5930")
    assert engine.drain() == 1
    assert engine.lock_pins(lock.device_id) == ["5930"]
    with engine.service.db.read() as s:
        (attempt,) = s.scalars(
            select(ActionAttempt).where(ActionAttempt.action_type == "UPDATE_ACCESS_CODE")
        ).all()
    assert attempt.status == "success"


def test_a_code_taken_off_a_lock_at_once_is_gone_after_one_pass(instant_engine: Engine) -> None:
    engine = instant_engine
    lock = engine.device("smartthings_lock")
    now = engine.clock.now()
    starts, ends = now + MINUTE, now + 2 * MINUTE
    cid = engine.create(lock.device_id, code="5823", starts_at=starts, ends_at=ends)
    cid = cid["access_code_id"]
    assert engine.advance(MINUTE) == 1
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    assert engine.advance(MINUTE) == 1
    assert engine.code(cid) is None and engine.lock_pins(lock.device_id) == []
    assert engine.events(cid)[-1] == "access_code.removed_from_device"


def test_a_read_back_that_fails_loses_nothing_the_pass_did(instant_engine: Engine) -> None:
    engine = instant_engine
    lock = engine.device("august_lock")
    driver = engine.service.integrations.sandbox
    original = driver.read_slots
    reads = 0

    async def second_read_fails(device: DeviceRef, fresh: bool) -> list[Any]:
        nonlocal reads
        if device.device_id == lock.device_id:
            reads += 1
            if reads == 2:  # the read-back, after the set was sent
                raise DeviceRejected("the lock refused the read")
        return await original(device, fresh)

    driver.read_slots = second_read_fails  # type: ignore[method-assign]
    cid = engine.create(lock.device_id, code="4821")["access_code_id"]
    # The pass records the set it sent; the next one, reading the lock, finds it there.
    assert engine.drain() == 2
    code = engine.code(cid)
    assert code is not None and (code.status, code.slot) == ("set", 1)
    assert engine.lock_pins(lock.device_id) == ["4821"]
    assert engine.events(cid) == ["access_code.created", "access_code.set_on_device"]
    with engine.service.db.read() as s:
        assert s.get(Device, lock.device_id).failure_count == 0  # type: ignore[union-attr]


def test_a_set_the_lock_drops_at_once_is_not_taken_for_set(instant_engine: Engine) -> None:
    engine = instant_engine
    lock = engine.device("yale_lock")
    set_faults(engine.service.db, lock.device_id, {"drop_after_ack": True})
    cid = engine.create(lock.device_id, code="4821")["access_code_id"]
    engine.drain()
    assert engine.code(cid).status == "setting"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == []
    assert "access_code.set_on_device" not in engine.events(cid)


def test_time_bound_code_is_programmed_for_its_window_and_removed_at_the_end(
    engine: Engine,
) -> None:
    lock = engine.device("smartthings_lock")  # no native scheduling: just in time
    now = engine.clock.now()
    starts, ends = now + 90 * MINUTE, now + 8 * HOUR
    code = engine.create(lock.device_id, code="5823", starts_at=starts, ends_at=ends)
    cid = code["access_code_id"]
    assert code["status"] == "unset"
    engine.drain()
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None and device.next_reconcile_at == starts - HOUR
    engine.advance(30 * MINUTE - SECOND)
    assert engine.code(cid).status == "unset"  # type: ignore[union-attr]
    engine.advance(SECOND)
    assert engine.code(cid).status == "setting"  # type: ignore[union-attr]
    engine.advance(SECOND)
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    engine.clock.set(ends)
    engine.drain()
    assert engine.code(cid).status == "removing"  # type: ignore[union-attr]
    engine.advance(SECOND)
    assert engine.code(cid) is None
    assert engine.lock_pins(lock.device_id) == []
    assert engine.events(cid)[-1] == "access_code.removed_from_device"


def test_window_that_passed_while_the_engine_was_down_is_never_programmed(
    engine: Engine,
) -> None:
    lock = engine.device("yale_lock")
    now = engine.clock.now()
    code = engine.create(
        lock.device_id, code="7314", starts_at=now + 2 * HOUR, ends_at=now + 3 * HOUR
    )
    engine.clock.advance(10 * HOUR)  # no drain in between: the worker was down
    engine.drain()
    assert engine.code(code["access_code_id"]) is None
    assert engine.lock_pins(lock.device_id) == []
    assert "access_code.set_on_device" not in engine.events(code["access_code_id"])
    assert "access_code.removed_from_device" not in engine.events(code["access_code_id"])


def test_window_opened_while_down_is_set_at_once_on_restart(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    now = engine.clock.now()
    code = engine.create(
        lock.device_id, code="7314", starts_at=now + 2 * HOUR, ends_at=now + 9 * HOUR
    )
    engine.clock.advance(3 * HOUR)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(code["access_code_id"]).status == "set"  # type: ignore[union-attr]


def test_offline_lock_keeps_code_setting_with_device_error_then_recovers(engine: Engine) -> None:
    lock = engine.device("august_lock")
    engine.set_online(lock.device_id, False)
    calls = count_lock_reads(engine, lock.device_id)
    code = engine.create(lock.device_id, code="4821")
    cid = code["access_code_id"]
    engine.drain()
    for _ in range(60):
        engine.advance(timedelta(minutes=1))
    row = engine.code(cid)
    assert row is not None and row.status == "setting"
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None
        assert [e["error_code"] for e in device.errors] == ["device_offline"]
    # Capped exponential back-off: an hour offline costs a handful of attempts, not 60+.
    assert 5 <= len(calls) <= 13
    engine.set_online(lock.device_id, True)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    with engine.service.db.read() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None and device.errors == []


def test_deleting_while_a_set_is_landing_leaves_no_pin_on_the_lock(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4821")
    engine.drain()  # the set is sent, lands in one second
    engine.delete(code["access_code_id"])
    engine.drain()
    engine.advance(SECOND)
    engine.advance(SECOND)
    assert engine.lock_pins(lock.device_id) == []
    assert engine.code(code["access_code_id"]) is None


def test_changing_the_pin_reprograms_the_same_slot(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4821")
    engine.drain()
    engine.advance(SECOND)
    engine.update(code["access_code_id"], code="9517")
    assert engine.code(code["access_code_id"]).status == "setting"  # type: ignore[union-attr]
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(code["access_code_id"]).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["9517"]


def test_full_lock_reports_no_space_until_a_slot_frees(engine: Engine) -> None:
    lock = engine.device("smartthings_lock")  # 27 slots
    ids = [engine.create(lock.device_id)["access_code_id"] for _ in range(28)]
    engine.drain()
    engine.advance(SECOND)
    waiting = [c for c in (engine.code(i) for i in ids) if c is not None and c.status != "set"]
    assert len(waiting) == 1
    assert [e["error_code"] for e in waiting[0].errors] == ["no_space_for_access_code_on_device"]
    assert (
        engine.events(waiting[0].access_code_id).count("access_code.failed_to_set_on_device") == 1
    )
    engine.delete(next(i for i in ids if i != waiting[0].access_code_id))
    engine.drain()
    engine.advance(SECOND)
    engine.advance(SECOND)
    later = engine.code(waiting[0].access_code_id)
    assert later is not None and later.status == "set" and later.errors == []


def test_api_write_during_a_reconcile_is_not_lost(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4821")
    driver = engine.service.integrations.sandbox
    original = driver.apply

    async def apply_then_update(device: DeviceRef, ops: Any) -> Any:
        outcomes = await original(device, ops)
        if any(op.code == "4821" for op in ops):
            engine.update(code["access_code_id"], code="9517")
        return outcomes

    driver.apply = apply_then_update  # type: ignore[method-assign]
    engine.drain()
    engine.advance(SECOND)
    engine.advance(SECOND)
    assert engine.code(code["access_code_id"]).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["9517"]


def test_converged_device_is_left_alone_until_its_drift_check(engine: Engine) -> None:
    lock = engine.device("august_lock")
    engine.create(lock.device_id, code="4821")
    engine.drain()
    engine.advance(SECOND)
    assert engine.advance(timedelta(minutes=59)) == 0
    assert engine.advance(timedelta(minutes=1)) >= 1


def test_lease_keeps_a_device_from_two_workers(engine: Engine) -> None:
    lock = engine.device("august_lock")
    engine.create(lock.device_id, code="4821")
    first = engine.service.worker.claim_due()
    assert lock.device_id in [c.device_id for c in first]
    assert lock.device_id not in [c.device_id for c in engine.service.worker.claim_due()]
    with engine.service.db.read() as s:
        owner = s.scalar(select(Device.lease_owner).where(Device.device_id == lock.device_id))
    claim = next(c for c in first if c.device_id == lock.device_id)
    assert owner == claim.token
    assert owner.startswith(engine.service.worker.owner)
    for c in first:
        asyncio.run(engine.service.reconciler.reconcile(c))


def test_delete_while_the_set_is_being_sent_leaves_the_lock_empty(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4826")
    driver = engine.service.integrations.sandbox
    original = driver.apply

    async def apply_then_delete(device: DeviceRef, ops: Any) -> Any:
        outcomes = await original(device, ops)
        engine.delete(code["access_code_id"])
        return outcomes

    driver.apply = apply_then_delete  # type: ignore[method-assign]
    engine.drain()
    driver.apply = original  # type: ignore[method-assign]
    for _ in range(3):
        engine.advance(SECOND)
    assert engine.lock_pins(lock.device_id) == []
    assert engine.code(code["access_code_id"]) is None


def test_code_re_enabled_while_its_removal_lands_is_programmed_again(engine: Engine) -> None:
    lock = engine.device("smartthings_lock")
    now = engine.clock.now()
    code = engine.create(lock.device_id, code="4821")
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    engine.update(cid, starts_at=now + 10 * HOUR, ends_at=now + 12 * HOUR)
    engine.drain()  # the removal is sent
    assert engine.code(cid).status == "removing"  # type: ignore[union-attr]
    engine.update(cid, type="ongoing")
    engine.drain()
    assert engine.code(cid).status == "setting"  # type: ignore[union-attr]
    for _ in range(3):
        engine.advance(SECOND)
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["4821"]


def test_a_device_leased_elsewhere_does_not_make_the_worker_spin(engine: Engine) -> None:
    lock = engine.device("august_lock")
    with engine.service.db.write() as s:
        device = s.get(Device, lock.device_id)
        assert device is not None
        device.next_reconcile_at = engine.clock.now()
        device.lease_until = engine.clock.now() + timedelta(minutes=2)
        device.lease_owner = "another-worker"
    assert engine.service.worker.claim_due() == []
    assert engine.service.worker._seconds_to_next_due() > 0
    engine.clock.advance(timedelta(minutes=2, seconds=1))
    assert [c.device_id for c in engine.service.worker.claim_due()] == [lock.device_id]


def test_native_scheduling_preloads_72_hours_ahead_and_sets_at_the_start(engine: Engine) -> None:
    lock = engine.device("schlage_lock")
    now = engine.clock.now()
    starts, ends = now + 100 * HOUR, now + 130 * HOUR
    code = engine.create(lock.device_id, code="5823", starts_at=starts, ends_at=ends)
    cid = code["access_code_id"]
    assert (code["status"], code["is_scheduled_on_device"]) == ("unset", False)
    engine.drain()
    engine.clock.set(starts - 72 * HOUR - SECOND)
    engine.drain()
    assert engine.lock_pins(lock.device_id) == []
    engine.advance(SECOND)  # the preload window opens: loaded with its schedule
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("unset", True)
    assert engine.lock_pins(lock.device_id) == ["5823"]
    assert engine.events(cid) == ["access_code.created", "access_code.scheduled_on_device"]
    engine.clock.set(starts)
    engine.drain()
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    assert engine.events(cid)[-1] == "access_code.set_on_device"
    engine.clock.set(ends)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(cid) is None and engine.lock_pins(lock.device_id) == []


def test_prefer_native_scheduling_false_programs_just_in_time(engine: Engine) -> None:
    lock = engine.device("schlage_lock")
    now = engine.clock.now()
    starts = now + 10 * HOUR
    code = engine.create(
        lock.device_id,
        code="5823",
        starts_at=starts,
        ends_at=starts + HOUR,
        prefer_native_scheduling=False,
    )
    engine.drain()
    engine.advance(SECOND)
    assert engine.lock_pins(lock.device_id) == []
    engine.clock.set(starts - HOUR)
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(code["access_code_id"])
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("set", False)


def test_moving_a_loaded_window_reloads_it(engine: Engine) -> None:
    lock = engine.device("august_lock")
    now = engine.clock.now()
    code = engine.create(
        lock.device_id, code="5823", starts_at=now + 10 * HOUR, ends_at=now + 20 * HOUR
    )
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(cid).is_scheduled_on_device is True  # type: ignore[union-attr]
    engine.update(cid, starts_at=now + 11 * HOUR)
    engine.drain()
    assert engine.code(cid).is_scheduled_on_device is False  # type: ignore[union-attr]
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("unset", True)
    assert engine.events(cid).count("access_code.scheduled_on_device") == 2


def _warnings(engine: Engine, cid: str) -> list[str]:
    row = engine.code(cid)
    assert row is not None
    return [w["warning_code"] for w in row.warnings]


def test_slow_setting_warns_once_per_episode_and_clears_on_success(engine: Engine) -> None:
    lock = engine.device("august_lock")
    engine.set_online(lock.device_id, False)
    code = engine.create(lock.device_id, code="4821")
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(4 * MINUTE + 59 * SECOND)
    assert _warnings(engine, cid) == []
    engine.advance(SECOND)
    assert _warnings(engine, cid) == ["delay_in_setting_on_device"]
    for _ in range(6):
        engine.advance(10 * MINUTE)
    assert engine.events(cid).count("access_code.delay_in_setting_on_device") == 1
    engine.set_online(lock.device_id, True)
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and row.status == "set" and row.warnings == []


def test_time_bound_code_is_late_only_after_its_start(engine: Engine) -> None:
    lock = engine.device("smartthings_lock")
    engine.set_online(lock.device_id, False)
    now = engine.clock.now()
    code = engine.create(
        lock.device_id, code="4821", starts_at=now + 30 * MINUTE, ends_at=now + 5 * HOUR
    )
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(34 * MINUTE)  # programming began at once (inside the lead time)
    assert _warnings(engine, cid) == []
    engine.advance(MINUTE + SECOND)
    assert _warnings(engine, cid) == ["delay_in_setting_on_device"]


def test_slow_removal_warns(engine: Engine) -> None:
    lock = engine.device("august_lock")
    code = engine.create(lock.device_id, code="4821")
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    engine.set_online(lock.device_id, False)
    engine.delete(cid)
    engine.drain()
    engine.advance(5 * MINUTE + SECOND)
    assert _warnings(engine, cid) == ["delay_in_removing_from_device"]
    assert "access_code.delay_in_removing_from_device" in engine.events(cid)
    engine.set_online(lock.device_id, True)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(cid) is None and engine.lock_pins(lock.device_id) == []


def test_a_lock_that_forgets_codes_is_not_hammered(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    set_faults(engine.service.db, lock.device_id, {"drop_after_ack": True})
    driver = engine.service.integrations.sandbox
    original = driver.apply
    sets: list[object] = []

    async def counting(device: DeviceRef, ops: Any) -> Any:
        sets.extend(op for op in ops if op.kind == "set")
        return await original(device, ops)

    driver.apply = counting  # type: ignore[method-assign]
    engine.create(lock.device_id, code="4821")
    engine.drain()
    engine.run_for(HOUR)
    # Every settled-but-missing set counts as a failure: capped exponential back-off.
    assert 5 <= len(sets) <= 14


def test_a_pin_already_held_in_an_unmanaged_slot_is_not_programmed(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    with engine.service.db.write() as s:  # someone set 4821 at the keypad, in slot 7
        s.add(
            SandboxSlot(lock_id=lock.address, slot=7, code="4821", visible_from=engine.clock.now())
        )
    code = engine.create(lock.device_id, code="4821")
    cid = code["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and row.status == "setting"
    assert [e["error_code"] for e in row.errors] == ["duplicate_code_on_device"]
    assert engine.lock_pins(lock.device_id) == ["4821"]  # only the unmanaged one
    with engine.service.db.write() as s:  # the clash is cleared at the lock
        for slot in s.scalars(select(SandboxSlot).where(SandboxSlot.slot == 7)):
            s.delete(slot)
    engine.advance(HOUR)  # the drift check sees it
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.errors) == ("set", [])


def test_same_pin_for_the_next_stay_waits_for_the_previous_one_to_leave(engine: Engine) -> None:
    lock = engine.device("smartthings_lock")
    now = engine.clock.now()
    first = engine.create(lock.device_id, code="4821", starts_at=now, ends_at=now + 2 * HOUR)
    second = engine.create(
        lock.device_id, code="4821", starts_at=now + 2 * HOUR, ends_at=now + 4 * HOUR
    )
    engine.drain()
    engine.advance(SECOND)
    engine.clock.set(now + HOUR)  # the second's programming time: the first still holds it
    engine.drain()
    row = engine.code(second["access_code_id"])
    assert row is not None and row.status == "setting" and row.errors == []
    engine.clock.set(now + 2 * HOUR)
    engine.drain()
    for _ in range(3):
        engine.advance(SECOND)
    assert engine.code(first["access_code_id"]) is None
    assert engine.code(second["access_code_id"]).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["4821"]


def _unmanaged(engine: Engine, device_id: str) -> list[tuple[int, str | None]]:
    from pinwarden.store.tables import UnmanagedAccessCode

    with engine.service.db.read() as s:
        rows = s.scalars(
            select(UnmanagedAccessCode).where(UnmanagedAccessCode.device_id == device_id)
        )
        return sorted((r.slot, r.code) for r in rows)


def test_unmanaged_codes_follow_the_lock_even_when_it_hides_pins(engine: Engine) -> None:
    lock = engine.device("yale_lock")
    engine.create(lock.device_id, code="4821")
    with engine.service.db.write() as s:
        edit_at_keypad(s, lock.address, 9, "7777", engine.clock.now(), tell=False)
    engine.drain()
    engine.advance(SECOND)
    assert _unmanaged(engine, lock.device_id) == [(9, "7777")]
    set_faults(engine.service.db, lock.device_id, {"mask_pins": True})
    engine.advance(HOUR)
    # Still one unmanaged code, now without its PIN; our own slot is not mistaken for one.
    assert _unmanaged(engine, lock.device_id) == [(9, None)]
    assert engine.events().count("access_code.unmanaged.created") == 1


def test_a_read_older_than_an_api_write_does_not_drop_a_new_unmanaged_code(
    engine: Engine,
) -> None:
    lock = engine.device("yale_lock")
    engine.drain()
    driver = engine.service.integrations.sandbox
    original = driver.read_slots

    async def read_then_simulate(device: DeviceRef, fresh: bool) -> Any:
        slots = await original(device, fresh)
        if device.device_id != lock.device_id:
            return slots
        # Between this read and the pass's record, someone programs a PIN (and the API
        # records it): the stale read does not show it, and must not delete its record.
        SandboxRoutes(driver).create_unmanaged(
            engine.ctx,
            UnmanagedParams(device_id=lock.device_id, name="Cleaner", code="2580"),
        )
        driver.read_slots = original  # type: ignore[method-assign]
        return slots

    driver.read_slots = read_then_simulate  # type: ignore[method-assign]
    engine.advance(HOUR)
    assert _unmanaged(engine, lock.device_id) == [(250, "2580")]
    engine.advance(HOUR)
    assert _unmanaged(engine, lock.device_id) == [(250, "2580")]
    assert engine.events().count("access_code.unmanaged.removed") == 0


def test_a_stale_unmanaged_record_never_removes_the_managed_code_in_its_slot(
    engine: Engine,
) -> None:
    from pinwarden.store.tables import UnmanagedAccessCode

    lock = engine.device("yale_lock")
    engine.drain()
    # A record of a PIN that was in slot 1 and whose removal was asked for; the PIN has
    # already left the lock, which applies operations at once.
    set_faults(engine.service.db, lock.device_id, {"latency_ms": 0})
    with engine.service.db.write() as s:
        s.add(
            UnmanagedAccessCode(
                access_code_id="5b3a4a4e-1111-4a4a-8a8a-000000000001",
                workspace_id=engine.ctx.workspace_id,
                device_id=lock.device_id,
                slot=1,
                code="7777",
                created_at=engine.clock.now(),
                delete_requested_at=engine.clock.now(),
            )
        )
    code = engine.create(lock.device_id, code="4821")
    driver = engine.service.integrations.sandbox
    original = driver.apply

    async def apply_then_write(device: DeviceRef, ops: Any) -> Any:
        outcomes = await original(device, ops)
        if device.device_id == lock.device_id:
            engine.update(code["access_code_id"], name="raced")  # the pass is out of step
            driver.apply = original  # type: ignore[method-assign]
        return outcomes

    driver.apply = apply_then_write  # type: ignore[method-assign]
    engine.drain()
    for _ in range(3):
        engine.advance(SECOND)
    engine.advance(HOUR)
    row = engine.code(code["access_code_id"])
    assert row is not None and (row.status, row.slot) == ("set", 1)
    assert engine.lock_pins(lock.device_id) == ["4821"]
    assert _unmanaged(engine, lock.device_id) == []
    assert "access_code.deleted_external_to_seam" not in engine.events()


def test_time_bound_code_inside_the_lead_time_starts_setting(engine: Engine) -> None:
    """T3, just in time: a code due within the programming lead time is ``setting`` at once."""
    lock = engine.device("smartthings_lock")
    now = engine.clock.now()
    code = engine.create(
        lock.device_id,
        code="4821",
        starts_at=now + timedelta(minutes=30),
        ends_at=now + timedelta(hours=3),
    )
    assert code["status"] == "setting"
    assert engine.events(code["access_code_id"]) == ["access_code.created"]
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(code["access_code_id"]).status == "set"  # type: ignore[union-attr]


def test_changing_a_set_code_goes_back_to_setting_with_a_changed_event(engine: Engine) -> None:
    """T10."""
    lock = engine.device("august_lock")
    cid = engine.create(lock.device_id, code="4821")["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    engine.update(cid, code="9517")
    assert engine.code(cid).status == "setting"  # type: ignore[union-attr]
    assert engine.events(cid)[-1] == "access_code.changed"
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(cid).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock.device_id) == ["9517"]


def test_natively_preloaded_codes_count_against_the_slots(engine: Engine) -> None:
    """R152: a full lock counts codes loaded ahead of their start."""
    lock = engine.device("schlage_lock")
    slots = lock.caps.slot_count
    start = engine.clock.now() + timedelta(days=2)
    for n in range(slots):
        engine.create(
            lock.device_id,
            code=f"{2000 + n}",
            starts_at=start + timedelta(minutes=n),
            ends_at=start + timedelta(days=1),
        )
    engine.drain()
    engine.advance(SECOND)
    assert len(engine.lock_pins(lock.device_id)) == slots  # all loaded, none active yet
    extra = engine.create(lock.device_id, code="9999")
    engine.drain()
    row = engine.code(extra["access_code_id"])
    assert row is not None and row.status == "setting"
    assert [e["error_code"] for e in row.errors] == ["no_space_for_access_code_on_device"]
