"""The worker: concurrent passes, per-pass timeouts, lease renewal and the lease fence.

Locks here are the simulated ones behind a :class:`Gate` that holds chosen devices' driver
calls until the test lets them through (or forever), the way a hung radio or vendor API
would. Schedules move on the fake clock; the only real-time waits are for the worker's own
real-time mechanisms (a pass timeout, the lease-renewal beat), polled with a bound.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pinwarden.background import run_in_thread
from pinwarden.devices.driver import DeviceRef, Driver, OpOutcome, SlotOp, SlotReport
from pinwarden.engine.worker import Worker
from pinwarden.store.tables import AccessCode, Device
from tests.engine.conftest import Engine

SECOND = timedelta(seconds=1)


class Gate:
    """A driver wrapper: calls for devices in ``hold`` wait until :meth:`open` (or forever)."""

    def __init__(self, inner: Driver, hold: set[str], on: str = "read") -> None:
        self.inner = inner
        self.hold = set(hold)
        self.on = on
        self.entered: set[str] = set()
        self.cancelled: set[str] = set()
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    async def _wait(self, device: DeviceRef) -> None:
        if device.device_id not in self.hold:
            return
        self.entered.add(device.device_id)
        try:
            while not self._open.is_set():
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.add(device.device_id)
            raise

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        if self.on == "read":
            await self._wait(device)
        return await self.inner.read_slots(device, fresh)

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        outcomes = await self.inner.apply(device, ops)
        if self.on == "apply":
            await self._wait(device)  # the lock took the ops; the answer is slow to come
        return outcomes


def wait_for(check: Callable[[], object], seconds: float = 10.0) -> None:
    """Poll ``check`` (real time, bounded) until it is truthy."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def gated(engine: Engine) -> Callable[..., Gate]:
    def install(hold: set[str], on: str = "read") -> Gate:
        gate = Gate(engine.service.reconciler.drivers["sandbox"], hold, on)
        engine.service.reconciler.drivers["sandbox"] = gate
        return gate

    return install


def _tune(engine: Engine, **changes: Any) -> Worker:
    """Swap in a worker with other settings (same database, clock and reconciler)."""
    settings = replace(engine.service.settings, **changes)
    worker = Worker(engine.service.db, engine.clock, engine.service.reconciler, settings)
    engine.service.worker = worker
    return worker


def _lease(engine: Engine, device_id: str) -> tuple[str | None, Any]:
    with engine.service.db.read() as s:
        row = s.execute(
            select(Device.lease_owner, Device.lease_until).where(Device.device_id == device_id)
        ).one()
    return row.lease_owner, row.lease_until


def _locks(engine: Engine, n: int) -> list[str]:
    types = ["august_lock", "schlage_lock", "yale_lock", "kwikset_lock", "smartthings_lock"]
    return [engine.device(t).device_id for t in types[:n]]


@pytest.fixture
def running(engine: Engine) -> Iterator[Callable[[Worker], None]]:
    """Start a worker's real loop on its own thread; stopped at the end of the test."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(worker: Worker) -> None:
        started.append(run_in_thread("test-worker", worker.run))

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(timeout=10)


def _lose_lease_mid_pass(engine: Engine, gate: Gate, lock: str) -> list[str]:
    """Run a pass on ``lock`` that another worker takes the device from while the gate
    holds it; returns the new claim's token(s)."""
    first = engine.service.worker

    async def scenario() -> list[str]:
        task = asyncio.create_task(first.run_once())
        while lock not in gate.entered:
            await asyncio.sleep(0.005)
        # The pass is stuck past its lease (no renewal beat in fake time); another
        # worker takes the device over.
        engine.clock.advance(engine.service.settings.lease_duration + SECOND)
        second = Worker(
            engine.service.db, engine.clock, engine.service.reconciler, engine.service.settings
        )
        stolen = await asyncio.to_thread(second.claim_due)
        gate.open()
        await task
        return [c.token for c in stolen]

    return asyncio.run(scenario())


def _free(engine: Engine, lock: str) -> None:
    with engine.service.db.write() as s:
        device = s.get(Device, lock)
        assert device is not None
        device.lease_owner = device.lease_until = None


@pytest.mark.parametrize("stage", ["read", "apply"])
def test_a_pass_that_lost_its_lease_writes_nothing(
    engine: Engine, gated: Callable[..., Gate], stage: str
) -> None:
    lock = engine.device("august_lock").device_id
    code = engine.create(lock, code="4821")["access_code_id"]
    before = engine.events()
    gate = gated({lock}, on=stage)
    tokens = _lose_lease_mid_pass(engine, gate, lock)
    assert len(tokens) == 1
    # The old pass recorded nothing, not even its release: the new claim stands.
    assert _lease(engine, lock)[0] == tokens[0]
    assert engine.events() == before
    row = engine.code(code)
    assert row is not None and row.status == "setting" and row.op_kind is None
    # Fenced out before it sent anything, or after the lock took the set: the PIN is on
    # the lock at most once, and the next owner's pass finds it there.
    assert engine.lock_pins(lock) == ([] if stage == "read" else ["4821"])
    _free(engine, lock)
    engine.drain()
    engine.advance(SECOND)
    assert engine.code(code).status == "set"  # type: ignore[union-attr]
    assert engine.lock_pins(lock) == ["4821"]
    assert engine.events(code).count("access_code.set_on_device") == 1


def test_one_hung_lock_never_delays_the_others(
    engine: Engine, gated: Callable[..., Gate], running: Callable[[Worker], None]
) -> None:
    hung, *others = _locks(engine, 4)
    gate = gated({hung})  # never opened: this lock never answers
    worker = _tune(engine, reconcile_timeout=timedelta(minutes=10))
    codes = [engine.create(d, code="4821")["access_code_id"] for d in [hung, *others]]
    running(worker)
    wait_for(lambda: hung in gate.entered)

    def others_set() -> bool:
        engine.clock.advance(SECOND)  # the simulated locks take a second to apply
        return all(engine.code(c).status == "set" for c in codes[1:])  # type: ignore[union-attr]

    wait_for(others_set)
    assert engine.code(codes[0]).status == "setting"  # type: ignore[union-attr]
    wait_for(lambda: worker.running == 1)  # the hung pass, holding only its own device
    assert (_lease(engine, hung)[0] or "").startswith(worker.owner)


def test_a_pass_that_times_out_is_cancelled_and_retried_with_backoff(
    engine: Engine, gated: Callable[..., Gate]
) -> None:
    lock = engine.device("august_lock").device_id
    code = engine.create(lock, code="4821")["access_code_id"]
    gate = gated({lock})
    _tune(engine, reconcile_timeout=timedelta(seconds=0.2))
    assert engine.drain() == 1
    assert gate.cancelled == {lock}
    with engine.service.db.read() as s:
        device = s.get(Device, lock)
        assert device is not None
    assert (device.lease_owner, device.failure_count) == (None, 1)
    assert device.next_reconcile_at == engine.clock.now() + engine.service.settings.retry_base
    gate.hold.clear()
    engine.advance(engine.service.settings.retry_base)
    engine.advance(SECOND)
    assert engine.code(code).status == "set"  # type: ignore[union-attr]


def test_a_live_pass_renews_its_lease_and_stops_once_it_is_lost(
    engine: Engine, gated: Callable[..., Gate]
) -> None:
    lock = engine.device("august_lock").device_id
    engine.create(lock, code="4821")
    gate = gated({lock})
    lease = timedelta(seconds=0.3)  # renewed every 0.1 s of real time
    worker = _tune(engine, lease_duration=lease)

    async def scenario() -> None:
        task = asyncio.create_task(worker.run_once())
        while lock not in gate.entered:
            await asyncio.sleep(0.005)
        token, until = _lease(engine, lock)
        engine.clock.advance(timedelta(seconds=0.2))
        for _ in range(200):
            if _lease(engine, lock)[1] > until:
                break
            await asyncio.sleep(0.01)
        assert _lease(engine, lock) == (token, engine.clock.now() + lease)
        # Someone else takes the device (as after a long stall): the next beat notices
        # and the pass stops at once, without releasing what is not its own.
        with engine.service.db.write() as s:
            device = s.get(Device, lock)
            assert device is not None
            device.lease_owner = "another-worker"
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert gate.cancelled == {lock}
    assert _lease(engine, lock)[0] == "another-worker"


def test_losing_one_lease_stops_only_that_pass(engine: Engine, gated: Callable[..., Gate]) -> None:
    """One beat renews every pass in flight: the one whose device was taken stops, the
    other keeps its renewed lease and finishes."""
    taken, kept = engine.device("august_lock").device_id, engine.device("yale_lock").device_id
    for lock in (taken, kept):
        engine.create(lock, code="4821")
    gate = gated({taken, kept})
    lease = timedelta(seconds=0.3)  # renewed every 0.1 s of real time
    worker = _tune(engine, lease_duration=lease)

    async def scenario() -> None:
        task = asyncio.create_task(worker.run_once())
        while gate.entered != {taken, kept}:
            await asyncio.sleep(0.005)
        until = _lease(engine, kept)[1]
        with engine.service.db.write() as s:
            device = s.get(Device, taken)
            assert device is not None
            device.lease_owner = "another-worker"
        engine.clock.advance(timedelta(seconds=0.2))
        for _ in range(500):  # a beat is 0.1 s; give it up to 5 s
            if gate.cancelled:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # had the beat stopped both, both would be cancelled now
        assert gate.cancelled == {taken}
        assert _lease(engine, kept)[1] > until  # renewed by the beat that stopped the other
        gate.open()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert gate.cancelled == {taken}
    assert _lease(engine, taken)[0] == "another-worker"
    assert _lease(engine, kept) == (None, None)  # finished and released


def test_a_pass_stops_once_its_lease_could_lapse_unrenewed(
    engine: Engine, gated: Callable[..., Gate]
) -> None:
    """After a renewal, one that fails leaves the lease a beat to spare and the pass goes
    on; after two failures in a row it could lapse before the next beat, and it stops."""
    lock = engine.device("august_lock").device_id
    engine.create(lock, code="4821")
    gate = gated({lock})
    worker = _tune(engine, lease_duration=timedelta(seconds=0.6))  # a beat every 0.2 s
    renew = worker.renew
    calls: list[str] = []

    def renew_then_fail(claims: list[Any]) -> set[str]:
        calls.append("renewed" if not calls else "failed")
        if len(calls) == 1:
            return renew(claims)
        raise OSError("database unreachable")

    worker.renew = renew_then_fail  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(worker.run_once())
        while calls.count("failed") < 1:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        assert not gate.cancelled  # one beat missed: still a beat to spare
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert gate.cancelled == {lock}
    assert calls == ["renewed", "failed", "failed"]


def test_claims_only_the_free_concurrency(
    engine: Engine, gated: Callable[..., Gate], running: Callable[[Worker], None]
) -> None:
    locks = _locks(engine, 5)
    gate = gated(set(locks))
    worker = _tune(engine, worker_concurrency=2)
    for lock in locks:
        engine.create(lock, code="4821")
    running(worker)
    wait_for(lambda: len(gate.entered) == 2)
    with engine.service.db.read() as s:
        leased = s.scalars(select(Device.device_id).where(Device.lease_owner.is_not(None))).all()
    assert sorted(leased) == sorted(gate.entered)
    assert worker.claim_due() == []  # no room: nothing more is taken
    gate.open()

    def all_set() -> bool:
        engine.clock.advance(SECOND)
        with engine.service.db.read() as s:
            statuses = s.scalars(
                select(AccessCode.status).where(AccessCode.device_id.in_(locks))
            ).all()
        return set(statuses) == {"set"}

    wait_for(all_set)
    assert len(gate.entered) == 5


def test_a_stale_removal_never_clears_the_pin_that_replaced_it(engine: Engine) -> None:
    # A pass that lost its lease after its last check may still reach the lock; its
    # removal names the PIN it saw, so it cannot wipe what the device's next owner put there.
    lock = engine.device("august_lock").device_id
    driver = engine.service.integrations.sandbox
    ref = engine._ref(lock)

    def apply(*ops: SlotOp) -> None:
        asyncio.run(driver.apply(ref, list(ops)))
        engine.clock.advance(SECOND)

    apply(SlotOp("set", 7, "4821"))
    apply(SlotOp("remove", 7, "1111"))
    assert engine.lock_pins(lock) == ["4821"]
    apply(SlotOp("remove", 7, "4821"))
    assert engine.lock_pins(lock) == []


def test_a_slot_freed_and_taken_in_a_pass_that_dies_has_one_owner(
    engine: Engine, gated: Callable[..., Gate]
) -> None:
    # Found by the chaos test: the pass that sees a deleted code's removal land gives its
    # slot to a new code and programs it, then dies before recording the old code's
    # release. The old code must not still claim the slot, or its next removal wipes the
    # new PIN (deleted_external_to_seam, then a second set_on_device).
    lock = engine.device("smartthings_lock").device_id  # no native scheduling
    old = engine.create(lock, code="4821")["access_code_id"]
    engine.drain()
    engine.advance(SECOND)
    engine.delete(old)
    engine.drain()  # the removal is sent
    engine.clock.advance(SECOND)  # ... and lands, unseen yet
    new = engine.create(lock, code="5937")["access_code_id"]
    gate = gated({lock}, on="apply")
    _lose_lease_mid_pass(engine, gate, lock)
    _free(engine, lock)
    for _ in range(3):
        engine.advance(SECOND)
    assert engine.lock_pins(lock) == ["5937"]
    assert engine.code(new).status == "set"  # type: ignore[union-attr]
    assert engine.code(old) is None
    assert engine.events(new) == ["access_code.created", "access_code.set_on_device"]
