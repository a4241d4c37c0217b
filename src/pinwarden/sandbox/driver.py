"""The sandbox driver: simulated locks whose memory lives in the database, like a real
lock's would.

Operations take the lock ``latency`` (clock time) to apply: a set becomes visible in
reads at ``now + latency``, a removal disappears then. An offline lock refuses calls.
Fault injection (``sandbox_locks.faults``) makes a lock slow, fail a fraction of
operations (no answer), refuse a fraction outright, drop codes it acknowledged, or hide PINs
when read.

Models with ``local_time_schedules`` (TTLock) take and report native schedules as local
wall-clock times in the device's time zone, with the DST fold (a lock that keeps a DST
flag with each time), and refuse a schedule while the zone is unknown. Their memory keeps
the instants at which the lock's clock reaches those times, so the keypad opens exactly
when the conversion to local time and back says it should.

Every database call runs on a worker thread, the event loop being shared with other
drivers; reads and writes of many locks at once are batched (:mod:`pinwarden.batching`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from pinwarden.background import Signal
from pinwarden.batching import Batcher, Outcome
from pinwarden.clock import Clock
from pinwarden.devices.driver import (
    AccessDenied,
    AccountRef,
    BatteryLevel,
    Connectivity,
    DeviceEvent,
    DeviceRef,
    DeviceRejected,
    DeviceUnavailable,
    DiscoveredLock,
    KeypadUnlock,
    ManualLockChange,
    OpAck,
    OpOutcome,
    SlotChanged,
    SlotOp,
    SlotReport,
)
from pinwarden.domain.localtime import Window, window_to_local, window_to_utc
from pinwarden.sandbox.lock import held_at, occupied_slots
from pinwarden.sandbox.models import LOCK_MODELS
from pinwarden.sandbox.tables import SandboxLock, SandboxLockEvent, SandboxSlot
from pinwarden.store.db import Database
from pinwarden.store.sealed import digest

# The name the sandbox driver is registered under.
DRIVER_NAME = "sandbox"
# Every sandbox lock's clock starts in one zone, as if the whole property were there.
SANDBOX_TIME_ZONE = "America/Los_Angeles"
# Reports written by another process are picked up this often (one process wakes the
# stream at once).
EVENT_POLL_SECONDS = 1.0
# Locks read, or written, in one query's worth of a batch.
BATCH = 256

_EVENT_KINDS: dict[str, type[DeviceEvent]] = {
    cls.__name__: cls
    for cls in (
        SlotChanged,
        Connectivity,
        KeypadUnlock,
        AccessDenied,
        ManualLockChange,
        BatteryLevel,
    )
}


def _wall_clock_zone(device: DeviceRef) -> ZoneInfo | None:
    """The zone a local-time lock's schedules are in; None for other locks, or while the
    zone is unknown."""
    if not device.capabilities.local_time_schedules or device.time_zone is None:
        return None
    return ZoneInfo(device.time_zone)


def _via_wall_clock(window: Window, zone: ZoneInfo) -> Window:
    """A window passed between pinwarden and a local-time lock: as wall-clock times in
    ``zone`` one way, as instants of the lock's clock the other."""
    return window_to_utc(window_to_local(window, zone), zone)


@dataclass(frozen=True)
class _LockState:
    """What a call needs of a simulated lock: whether it answers, and its faults."""

    online: bool
    faults: dict[str, Any]


def _load_locks(session: Session, addresses: list[str]) -> dict[str, _LockState]:
    """Several simulated locks in one column-only query, by address (no ORM objects: the
    lock's sealed memory of used offline PINs is not opened for a slot call)."""
    rows = session.execute(
        select(SandboxLock.lock_id, SandboxLock.online, SandboxLock.faults).where(
            SandboxLock.lock_id.in_(addresses)
        )
    )
    return {r.lock_id: _LockState(r.online, r.faults or {}) for r in rows}


_SLOTS = cast(Table, SandboxSlot.__table__)
# A slot row as read: lock, slot, PIN, name, window.
_SlotRow = Row[str, int, str, str | None, datetime | None, datetime | None]
_SLOT_READ = (
    SandboxSlot.lock_id,
    SandboxSlot.slot,
    SandboxSlot.code,
    SandboxSlot.name,
    SandboxSlot.starts_at,
    SandboxSlot.ends_at,
)
# Whatever a slot holds is gone from ``at`` on (one executemany for a batch's locks).
_END_SLOT = (
    update(_SLOTS)
    .where(
        _SLOTS.c.lock_id == bindparam("lock"),
        _SLOTS.c.slot == bindparam("number"),
        or_(_SLOTS.c.gone_at.is_(None), _SLOTS.c.gone_at > bindparam("at")),
    )
    .values(gone_at=bindparam("at"))
)


@dataclass
class _Landing:
    """A batch's writes to the locks' memory, sent as a few bulk statements."""

    ended: list[dict[str, Any]] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)
    locks: set[str] = field(default_factory=set)

    def flush(self, session: Session) -> None:
        if self.ended:
            session.execute(_END_SLOT, self.ended)
        if self.written:
            session.execute(insert(_SLOTS), self.written)
        self.ended, self.written, self.locks = [], [], set()


def discovered(lock: SandboxLock) -> DiscoveredLock:
    """What a simulated lock tells its integration about itself."""
    caps = LOCK_MODELS[lock.model_key]
    return DiscoveredLock(
        address=lock.lock_id,
        name=caps.default_name,
        capabilities=caps,
        battery_level=lock.battery_level,
        time_zone=SANDBOX_TIME_ZONE,
    )


def locks_of(session: Session, connected_account_id: str) -> list[DiscoveredLock]:
    """Every simulated lock of the account (in the caller's transaction)."""
    rows = session.scalars(
        select(SandboxLock)
        .where(SandboxLock.connected_account_id == connected_account_id)
        .order_by(SandboxLock.lock_id)
    ).all()
    return [discovered(r) for r in rows]


class SandboxDriver:
    """Driver for the sandbox lock models in :mod:`pinwarden.sandbox.models`."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        default_latency: timedelta,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._default_latency = default_latency
        self._rng = rng or random.Random()
        self._closed = False
        self._reports = Signal()
        # Many passes at once read and write many locks: a few queries serve them all.
        self._reads: Batcher[DeviceRef, list[SlotReport]] = Batcher(
            self._read_many, BATCH, "sandbox reads"
        )
        self._writes: Batcher[tuple[DeviceRef, Sequence[SlotOp]], list[OpOutcome]] = Batcher(
            self._apply_many, BATCH, "sandbox writes"
        )

    async def start(self) -> None:
        """Nothing to connect to: the locks live in the database."""
        self._closed = False

    async def aclose(self) -> None:
        """Refuse further calls and end the event stream."""
        self._closed = True
        self._reports.wake()

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceUnavailable("the sandbox driver is closed")

    async def discover(self, account: AccountRef) -> list[DiscoveredLock]:
        self._check_open()
        return await asyncio.to_thread(self._discover, account.connected_account_id)

    def _discover(self, connected_account_id: str) -> list[DiscoveredLock]:
        with self._db.read() as session:
            return locks_of(session, connected_account_id)

    @staticmethod
    def _reachable(lock: _LockState | None) -> dict[str, Any]:
        """The lock's fault settings; raises as an offline lock (or hub) would."""
        if lock is None or not lock.online:
            raise DeviceUnavailable("the lock is offline")
        faults = lock.faults
        if faults.get("hub_disconnected"):
            raise DeviceUnavailable("the lock's hub is disconnected", "hub_disconnected")
        return faults

    def _flaky(self, faults: dict[str, Any]) -> DeviceUnavailable | None:
        if self._rng.random() < float(faults.get("failure_rate", 0.0)):
            return DeviceUnavailable("the lock did not answer (simulated failure)")
        return None

    def _refused(self, faults: dict[str, Any]) -> DeviceRejected | None:
        if self._rng.random() < float(faults.get("reject_rate", 0.0)):
            return DeviceRejected("the lock refused the operation (simulated rejection)")
        return None

    def _settles_at(self, faults: dict[str, Any]) -> datetime:
        latency_ms = faults.get("latency_ms")
        latency = (
            self._default_latency if latency_ms is None else timedelta(milliseconds=latency_ms)
        )
        return self._clock.now() + latency

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        """The lock's memory, always read afresh (it costs the sandbox nothing)."""
        self._check_open()
        return await self._reads.submit(device)

    def _read_many(self, devices: list[DeviceRef]) -> list[Outcome[list[SlotReport]]]:
        """Several locks' memory in one read: the locks, then all their slots at once."""
        now = self._clock.now()
        addresses = [d.address for d in devices]
        with self._db.read() as session:
            locks = _load_locks(session, addresses)
            rows = session.execute(
                select(*_SLOT_READ)
                .where(SandboxSlot.lock_id.in_(addresses), held_at(now))
                .order_by(SandboxSlot.slot, SandboxSlot.visible_from)
            ).all()
            by_lock: dict[str, list[_SlotRow]] = {}
            for row in rows:
                by_lock.setdefault(row.lock_id, []).append(row)
            outcomes: list[Outcome[list[SlotReport]]] = []
            for device in devices:
                try:
                    reports = self._reports_of(locks.get(device.address), device, by_lock)
                    outcomes.append((reports, None))
                except DeviceUnavailable as exc:
                    outcomes.append((None, exc))
            return outcomes

    def _reports_of(
        self, lock: _LockState | None, device: DeviceRef, slots: dict[str, list[_SlotRow]]
    ) -> list[SlotReport]:
        faults = self._reachable(lock)
        failure = self._flaky(faults)
        if failure is not None:
            raise failure
        # The newest applied write to a slot is what the keypad holds.
        hide = bool(faults.get("mask_pins"))
        zone = _wall_clock_zone(device)
        latest: dict[int, SlotReport] = {}
        for row in slots.get(device.address, []):
            starts_at, ends_at = row.starts_at, row.ends_at
            if zone is not None and starts_at is not None and ends_at is not None:
                starts_at, ends_at = _via_wall_clock((starts_at, ends_at), zone)
            latest[row.slot] = SlotReport(
                row.slot, None if hide else row.code, row.name, starts_at, ends_at
            )
        return list(latest.values())

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        """All of a pass's operations in one transaction of the lock's memory."""
        if self._closed:
            return [DeviceUnavailable("the sandbox driver is closed") for _ in ops]
        return await self._writes.submit((device, ops))

    def _apply_many(
        self, batches: list[tuple[DeviceRef, Sequence[SlotOp]]]
    ) -> list[Outcome[list[OpOutcome]]]:
        """Several locks' operations in one transaction (each lock's land together), the
        memory of all of them written with a few bulk statements."""
        now = self._clock.now()
        with self._db.write() as session:
            locks = _load_locks(session, [device.address for device, _ops in batches])
            answering = [a for a, lock in locks.items() if lock.online]
            # Rows already gone are forgotten before anything new lands.
            if answering:
                session.execute(
                    delete(_SLOTS).where(_SLOTS.c.lock_id.in_(answering), _SLOTS.c.gone_at <= now)
                )
            landing = _Landing()
            outcomes: list[Outcome[list[OpOutcome]]] = []
            for device, ops in batches:
                if device.address in landing.locks:
                    landing.flush(session)  # the same lock twice: it sees its first writes
                landing.locks.add(device.address)
                outcomes.append(
                    (self._apply_in(session, locks.get(device.address), device, ops, landing), None)
                )
            landing.flush(session)
            return outcomes

    def _apply_in(
        self,
        session: Session,
        lock: _LockState | None,
        device: DeviceRef,
        ops: Sequence[SlotOp],
        landing: _Landing,
    ) -> list[OpOutcome]:
        try:
            faults = self._reachable(lock)
        except DeviceUnavailable as exc:
            return [exc for _ in ops]
        zone = _wall_clock_zone(device)
        local_time = device.capabilities.local_time_schedules
        outcomes: list[OpOutcome] = []
        # The batch lands together; written with one statement for all its slots.
        at = self._settles_at(faults)
        now = self._clock.now()
        landed: list[tuple[SlotOp, tuple[datetime, datetime] | None]] = []
        holding: dict[int, str] | None = None
        for op in ops:
            window = op.window
            if window is not None and local_time:
                if zone is None:
                    outcomes.append(
                        DeviceRejected("the lock schedules in local time; its zone is unknown")
                    )
                    continue
                window = _via_wall_clock(window, zone)
            failure = self._flaky(faults) or self._refused(faults)
            if failure is not None:
                outcomes.append(failure)
                continue
            dropped = op.kind == "set" and bool(faults.get("drop_after_ack"))
            # Without latency the simulated lock holds the change as it answers: confirmed,
            # as a driver that read it back would say.
            outcomes.append(OpAck(settles_at=at, confirmed=at <= now and not dropped))
            if dropped:
                continue  # acknowledged, then forgotten
            if op.kind == "remove" and op.code is not None:
                if holding is None:
                    holding = occupied_slots(session, device.address, self._clock.now())
                if holding.get(op.slot) != op.code:
                    continue  # the slot holds another PIN now: nothing to clear
            landed.append((op, window))
        landing.ended += [{"lock": device.address, "number": op.slot, "at": at} for op, _ in landed]
        landing.written += [
            {
                "lock_id": device.address,
                "slot": op.slot,
                "code": op.code,
                "code_digest": digest(op.code),
                "name": op.name,
                "starts_at": window[0] if window is not None else None,
                "ends_at": window[1] if window is not None else None,
                "visible_from": at,
                "gone_at": None,
            }
            for op, window in landed
            if op.kind == "set"
        ]
        return outcomes

    async def set_locked(self, device: DeviceRef, locked: bool) -> OpOutcome:
        """Throw the simulated bolt: it moves at once and the lock says so (confirmed).

        An offline lock, or one behind a disconnected hub, does not answer; the
        ``failure_rate`` and ``reject_rate`` faults apply as to slot operations. The bolt's
        position is kept only on the device (``devices.locked``), where the engine records
        it: nothing reads it back from the lock.
        """
        if self._closed:
            return DeviceUnavailable("the sandbox driver is closed")
        return await asyncio.to_thread(self._set_locked, device)

    def _set_locked(self, device: DeviceRef) -> OpOutcome:
        with self._db.read() as session:
            try:
                faults = self._reachable(_load_locks(session, [device.address]).get(device.address))
            except DeviceUnavailable as exc:
                return exc
        return (
            self._flaky(faults)
            or self._refused(faults)
            or OpAck(settles_at=self._clock.now(), confirmed=True)
        )

    def lock_reported(self) -> None:
        """A simulated lock wrote a report in this process: hand it out now. Thread-safe."""
        self._reports.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every report written before the last :meth:`lock_reported` has been
        handed out and its consumer asked for the next one (tests)."""
        self._reports.wait_idle(timeout)

    async def events(self) -> AsyncIterator[DeviceEvent]:
        """The locks' reports, oldest first; each is handed out once."""
        wake = self._reports.attach()
        # aclose ends the stream through a wake (then ``_closed`` is seen), not a stop.
        never = asyncio.Event()
        try:
            while not self._closed:
                seen = self._reports.requests()
                wake.clear()
                batch = await asyncio.to_thread(self._take_reports)
                for event in batch:
                    yield event
                if batch:
                    continue
                self._reports.mark_idle_if_unchanged(seen)
                await self._reports.sleep(wake, never, EVENT_POLL_SECONDS)
        finally:
            self._reports.detach()

    def _take_reports(self, limit: int = 100) -> list[DeviceEvent]:
        with self._db.write() as session:
            rows = session.scalars(
                select(SandboxLockEvent)
                .order_by(SandboxLockEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            events = [
                _EVENT_KINDS[r.kind](address=r.lock_id, occurred_at=r.occurred_at, **r.payload)
                for r in rows
            ]
            if rows:
                session.execute(
                    delete(SandboxLockEvent).where(SandboxLockEvent.id.in_([r.id for r in rows]))
                )
        return events
