"""What every driver must do (ARCHITECTURE decision 9), checked the same way for each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from pinwarden.devices.driver import (
    BatteryLevel,
    Connectivity,
    DeviceEvent,
    DeviceRef,
    DeviceRejected,
    DeviceUnavailable,
    DiscoveredLock,
    Driver,
    KeypadUnlock,
    OpAck,
    OpOutcome,
    SlotChanged,
    SlotOp,
)
from tests.drivers.conftest import DriverUnderTest

T = TypeVar("T")
# Real seconds an event may take to arrive; schedules never wait on the wall clock.
EVENT_TIMEOUT = 5.0


def run(under: DriverUnderTest, body: Awaitable[T]) -> T:
    """Run ``body`` between the driver's start and aclose, on one event loop."""

    async def lifecycle() -> T:
        await under.driver.start()
        try:
            return await body
        finally:
            await under.driver.aclose()

    return asyncio.run(lifecycle())


async def first_lock(under: DriverUnderTest) -> tuple[DiscoveredLock, DeviceRef]:
    found = await under.driver.discover(under.account)
    assert found, "the contract account must give access to at least one lock"
    lock = found[0]
    ref = DeviceRef(
        "device-under-test",
        lock.address,
        under.account.connected_account_id,
        lock.time_zone,
        lock.capabilities,
    )
    return lock, ref


async def settle(under: DriverUnderTest, outcomes: list[OpOutcome]) -> None:
    """Move the clock to when the lock said its acknowledged operations show."""
    acks = [o for o in outcomes if isinstance(o, OpAck) and not o.confirmed]
    if acks:
        under.clock.set(max(a.settles_at for a in acks) + timedelta(milliseconds=1))


async def program(under: DriverUnderTest, driver: Driver, ref: DeviceRef, *ops: SlotOp) -> None:
    outcomes = await driver.apply(ref, list(ops))
    assert [type(o) for o in outcomes] == [OpAck] * len(ops)
    await settle(under, outcomes)


def test_discover_reports_each_lock_with_its_capabilities(under_test: DriverUnderTest) -> None:
    async def body() -> list[DiscoveredLock]:
        return await under_test.driver.discover(under_test.account)

    found = run(under_test, body())
    assert found
    assert len({lock.address for lock in found}) == len(found)
    for lock in found:
        caps = lock.capabilities
        assert lock.address and lock.name
        assert caps.slot_count > 0
        assert caps.supported_code_lengths
        assert all(4 <= n <= 20 for n in caps.supported_code_lengths)
        assert caps.pin_characters
        assert caps.device_type and caps.manufacturer and caps.model_display_name
        assert lock.battery_level is None or 0 <= lock.battery_level <= 1


def test_an_acknowledged_change_shows_in_a_fresh_read(under_test: DriverUnderTest) -> None:
    async def body() -> tuple[list[tuple[int, str | None]], list[int]]:
        lock, ref = await first_lock(under_test)
        pin = "4" * min(lock.capabilities.supported_code_lengths)
        await program(under_test, under_test.driver, ref, SlotOp("set", 1, pin, "Guest"))
        after_set = [(s.slot, s.code) for s in await under_test.driver.read_slots(ref, True)]
        await program(under_test, under_test.driver, ref, SlotOp("remove", 1))
        after_remove = [s.slot for s in await under_test.driver.read_slots(ref, True)]
        return after_set, after_remove

    after_set, after_remove = run(under_test, body())
    assert after_set == [(1, "4" * len(after_set[0][1] or ""))] and after_set[0][1]
    assert 1 not in after_remove


def test_a_confirmed_change_shows_in_a_cached_read(under_test: DriverUnderTest) -> None:
    """A driver that confirms a write knows what the lock holds now: a read it may answer
    from what it last heard shows the change at once (the engine reads back so after
    confirmed operations). An acknowledged, unconfirmed change promises nothing yet."""

    async def body() -> tuple[str, list[str | None]]:
        lock, ref = await first_lock(under_test)
        pin = "6" * min(lock.capabilities.supported_code_lengths)
        seen: list[str | None] = []
        for op in (SlotOp("set", 1, pin, "Guest"), SlotOp("remove", 1)):
            (outcome,) = await under_test.driver.apply(ref, [op])
            assert isinstance(outcome, OpAck)
            if outcome.confirmed:
                held = {s.slot: s.code for s in await under_test.driver.read_slots(ref, False)}
                seen.append(held.get(1, "empty"))
            else:
                await settle(under_test, [outcome])
        return pin, seen

    pin, seen = run(under_test, body())
    # zwave-js verifies every write with a User Code Get; the sandbox, with latency, does not.
    assert seen == ([pin, "empty"] if under_test.name == "zwave-js" else [])


def test_failures_are_returned_one_per_operation_in_order(under_test: DriverUnderTest) -> None:
    async def body() -> tuple[list[OpOutcome], list[OpOutcome], BaseException | None]:
        lock, ref = await first_lock(under_test)
        pin = "5" * min(lock.capabilities.supported_code_lengths)
        # The removal clears a slot that holds a PIN: a refusal must be observable.
        await program(under_test, under_test.driver, ref, SlotOp("set", 3, "1" * len(pin)))
        ops = [SlotOp("set", 1, pin), SlotOp("set", 2, pin[::-1]), SlotOp("remove", 3)]
        under_test.lock.refuse_writes(lock.address)
        refused = await under_test.driver.apply(ref, ops)
        under_test.lock.go_offline(lock.address)
        unanswered = await under_test.driver.apply(ref, ops)
        try:
            await under_test.driver.read_slots(ref, True)
        except DeviceUnavailable as exc:
            return refused, unanswered, exc
        return refused, unanswered, None

    refused, unanswered, read_failure = run(under_test, body())
    assert [type(o) for o in refused] == [DeviceRejected] * 3
    assert [type(o) for o in unanswered] == [DeviceUnavailable] * 3
    assert isinstance(read_failure, DeviceUnavailable)


def test_locking_and_unlocking_are_acknowledged_and_offline_is_unavailable(
    under_test: DriverUnderTest,
) -> None:
    async def body() -> list[OpOutcome]:
        lock, ref = await first_lock(under_test)
        locked = await under_test.driver.set_locked(ref, True)
        unlocked = await under_test.driver.set_locked(ref, False)
        under_test.lock.go_offline(lock.address)
        return [locked, unlocked, await under_test.driver.set_locked(ref, True)]

    locked, unlocked, offline = run(under_test, body())
    assert isinstance(locked, OpAck) and isinstance(unlocked, OpAck)
    assert isinstance(offline, DeviceUnavailable) and str(offline)


def test_hidden_pins_are_reported_as_unknown(under_test: DriverUnderTest) -> None:
    async def body() -> list[tuple[int, str | None]]:
        lock, ref = await first_lock(under_test)
        pin = "6" * min(lock.capabilities.supported_code_lengths)
        await program(under_test, under_test.driver, ref, SlotOp("set", 4, pin))
        under_test.lock.hide_pins(lock.address)
        return [(s.slot, s.code) for s in await under_test.driver.read_slots(ref, True)]

    assert run(under_test, body()) == [(4, None)]


def test_keypad_activity_is_streamed_as_events(under_test: DriverUnderTest) -> None:
    async def body() -> tuple[str, list[DeviceEvent]]:
        lock, ref = await first_lock(under_test)
        pin = "7" * min(lock.capabilities.supported_code_lengths)
        await program(under_test, under_test.driver, ref, SlotOp("set", 2, pin))
        stream = under_test.driver.events()
        under_test.lock.type_pin(lock.address, pin)
        under_test.lock.program_at_keypad(lock.address, 9, "8" * len(pin))
        seen: list[DeviceEvent] = []
        while len(seen) < 2:
            event = await asyncio.wait_for(anext(stream), EVENT_TIMEOUT)
            # Reachability and battery reports may come at any time (a driver repeats
            # them on every new connection).
            if not isinstance(event, Connectivity | BatteryLevel):
                seen.append(event)
        return lock.address, seen

    address, seen = run(under_test, body())
    unlock, changed = seen
    assert isinstance(unlock, KeypadUnlock)
    assert (unlock.address, unlock.slot) == (address, 2)
    assert isinstance(changed, SlotChanged)
    assert (changed.address, changed.slot) == (address, 9)


def test_aclose_mid_operation_ends_everything_without_leaking_errors(
    under_test: DriverUnderTest,
) -> None:
    async def body() -> tuple[list[object], list[OpOutcome], BaseException | None]:
        driver = under_test.driver
        await driver.start()
        lock, ref = await first_lock(under_test)
        pin = "3" * min(lock.capabilities.supported_code_lengths)

        async def drain() -> list[DeviceEvent]:
            return [event async for event in driver.events()]

        events = asyncio.create_task(drain())
        calls = [
            asyncio.create_task(driver.apply(ref, [SlotOp("set", 1, pin)])),
            asyncio.create_task(driver.read_slots(ref, True)),
            asyncio.create_task(driver.discover(under_test.account)),
        ]
        await asyncio.sleep(0)
        await asyncio.wait_for(driver.aclose(), EVENT_TIMEOUT)
        done = await asyncio.wait_for(
            asyncio.gather(*calls, events, return_exceptions=True), EVENT_TIMEOUT
        )
        after = [
            *await driver.apply(ref, [SlotOp("remove", 1)]),
            await driver.set_locked(ref, False),
        ]
        try:
            await driver.read_slots(ref, True)
        except DeviceUnavailable as exc:
            return done, after, exc
        return done, after, None

    done, after, read_after = asyncio.run(body())
    for result in done:
        # Each call finished or failed the documented way; nothing else escaped.
        assert isinstance(result, list | DeviceUnavailable), result
    assert [type(o) for o in after] == [DeviceUnavailable, DeviceUnavailable]
    assert isinstance(read_after, DeviceUnavailable)
