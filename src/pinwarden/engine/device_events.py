"""What locks report on their own, turned into device state and Seam events.

One consumer per driver reads :meth:`Driver.events`; events are recorded in order, in
transactions off the event loop (a burst shares one): keypad unlock by slot →
``lock.unlocked`` naming the code in that slot (and a one-time-use code is used up),
manual lock/unlock → ``lock.locked``/``lock.unlocked``, online/offline →
``device.connected``/``disconnected``, slot changed → a fresh read of the lock at once,
battery → the device's level.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.devices.driver import (
    AccessDenied,
    BatteryLevel,
    Connectivity,
    DeviceEvent,
    Driver,
    KeypadUnlock,
    ManualLockChange,
    SlotChanged,
)
from pinwarden.domain.issues import (
    UNREACHABLE_ERRORS,
    UNREACHABLE_MESSAGES,
    disconnected_event_code,
    with_unreachable,
    without_errors,
)
from pinwarden.store.db import Database
from pinwarden.store.events import defer_events, insert_deferred, record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.sealed import matches
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode

log = logging.getLogger(__name__)
# Real seconds before a failed event stream is opened again.
STREAM_RETRY_SECONDS = 1.0
# At most this many events are recorded in one transaction.
EVENTS_PER_TRANSACTION = 200


def _keypad_unlock(session: Session, device: Device, event: KeypadUnlock) -> bool:
    """``lock.unlocked`` by keycode, naming the managed or unmanaged code in the slot (or
    the offline code typed); a one-time-use code is used up. Returns whether the device
    needs a reconcile."""
    now = event.occurred_at
    managed: AccessCode | None = None
    foreign: str | None = None
    if event.slot is not None:
        stmt = select(AccessCode).where(
            AccessCode.device_id == device.device_id, AccessCode.slot == event.slot
        )
        if event.code is not None:
            stmt = stmt.where(matches(AccessCode.code_digest, event.code))
        managed = session.scalars(stmt.order_by(AccessCode.created_at)).first()
        if managed is None:
            foreign = session.scalar(
                select(UnmanagedAccessCode.access_code_id).where(
                    UnmanagedAccessCode.device_id == device.device_id,
                    UnmanagedAccessCode.slot == event.slot,
                )
            )
    elif event.code is not None:
        managed = session.scalars(
            select(AccessCode).where(
                AccessCode.device_id == device.device_id,
                matches(AccessCode.code_digest, event.code),
                AccessCode.is_offline_access_code.is_(True),
            )
        ).first()
    device.locked = False
    extra: dict[str, Any] = {"method": "keycode", "access_code_is_managed": managed is not None}
    woke = False
    if managed is not None:
        extra["access_code_id"] = managed.access_code_id
        if managed.is_one_time_use and managed.used_at is None:
            # Used once: it goes (T20); an online one leaves the lock first.
            managed.used_at = now
            managed.revision += 1
            if not managed.is_offline_access_code:
                managed.status, managed.pending_since = "removing", None
            request_reconcile(session, device.device_id, now)
            woke = True
    elif foreign is not None:
        extra["access_code_id"] = foreign
    record_event(
        session, "lock.unlocked", now, workspace_id=device.workspace_id, device=device, **extra
    )
    return woke


def record_device_event(session: Session, device: Device, event: DeviceEvent) -> bool:
    """Record ``event`` of ``device``; returns whether the device needs a reconcile."""
    now = event.occurred_at
    match event:
        case SlotChanged():
            device.next_fresh_read_at = None
            request_reconcile(session, device.device_id, now)
            return True
        case Connectivity(online=online, error_code=error_code):
            if device.online == online:
                return False
            device.online = online
            # The error shows as soon as the lock is known to be away, not only once a
            # reconcile has failed to reach it; a pass that reaches it clears it too.
            if online:
                device.errors = without_errors(list(device.errors), UNREACHABLE_ERRORS)
                record_event(
                    session,
                    "device.connected",
                    now,
                    workspace_id=device.workspace_id,
                    device=device,
                )
            else:
                message = UNREACHABLE_MESSAGES.get(error_code, "Device is unreachable")
                device.errors = with_unreachable(list(device.errors), error_code, message, now)
                record_event(
                    session,
                    "device.disconnected",
                    now,
                    workspace_id=device.workspace_id,
                    device=device,
                    error_code=disconnected_event_code(error_code),
                )
            request_reconcile(session, device.device_id, now)
            return True
        case KeypadUnlock():
            return _keypad_unlock(session, device, event)
        case AccessDenied():
            record_event(
                session, "lock.access_denied", now, workspace_id=device.workspace_id, device=device
            )
            return False
        case ManualLockChange(locked=locked, method=method):
            device.locked = locked
            record_event(
                session,
                "lock.locked" if locked else "lock.unlocked",
                now,
                workspace_id=device.workspace_id,
                device=device,
                method=method,
            )
            return False
        case BatteryLevel(level=level):
            device.battery_level = level
            return False


class DeviceEvents:
    """Consumes every driver's event stream until stopped."""

    def __init__(
        self,
        db: Database,
        drivers: Mapping[str, Driver],
        wake_worker: Callable[[], None],
    ) -> None:
        self._db = db
        self._drivers = drivers
        self._wake_worker = wake_worker
        # Drivers whose handed-out events are not all recorded yet.
        self._recording: set[str] = set()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every event a driver handed out so far is recorded."""
        if not self._idle.wait(timeout):
            raise TimeoutError("device events were not recorded in time")

    def _mark(self, name: str, recording: bool) -> None:
        with self._lock:
            if recording:
                self._recording.add(name)
                self._idle.clear()
            else:
                self._recording.discard(name)
                if not self._recording:
                    self._idle.set()

    def record(self, driver: str, event: DeviceEvent) -> bool:
        """Record one event of one of ``driver``'s locks in its own transaction; returns
        whether the worker should look. Events of unknown locks are dropped."""
        return self.record_all(driver, [event])

    def record_all(self, driver: str, events: Sequence[DeviceEvent]) -> bool:
        """Record ``events`` of ``driver``'s locks, in order, in one transaction; returns
        whether the worker should look. Events of unknown locks are dropped."""
        with self._db.write() as session:
            # Nothing below reads the events table: they are written together at the end.
            defer_events(session)
            # Locked in id order, as the engine's write groups lock devices, so that two
            # writers on PostgreSQL never wait on each other in a circle.
            devices: dict[str, Device] = {}
            for device in session.scalars(
                select(Device)
                .where(Device.driver == driver, Device.address.in_({e.address for e in events}))
                .order_by(Device.device_id)
                .with_for_update()
            ):
                devices.setdefault(device.address, device)
            woke = False
            for event in events:
                found = devices.get(event.address)
                if found is not None and record_device_event(session, found, event):
                    woke = True
            insert_deferred(session)
            return woke

    async def consume(self, name: str, driver: Driver) -> None:
        """Record ``driver``'s events until its stream ends (at ``aclose``); a stream that
        fails is opened again after a pause.

        Events that arrive while a transaction records earlier ones are recorded together
        in the next: one event costs one transaction when they are few, and a burst costs
        a few transactions, not one per event (the write lock is shared with the worker
        and the deliverer)."""
        pending: list[DeviceEvent] = []
        recording: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    async for event in driver.events():
                        pending.append(event)
                        if recording is None or recording.done():
                            self._mark(name, True)
                            recording = asyncio.create_task(self._record_pending(name, pending))
                    return
                except Exception:
                    log.exception("the event stream of driver %s failed", name)
                    await asyncio.sleep(STREAM_RETRY_SECONDS)
        finally:
            if recording is not None:
                await recording

    async def _record_pending(self, name: str, pending: list[DeviceEvent]) -> None:
        try:
            while pending:
                batch = pending[:EVENTS_PER_TRANSACTION]
                del pending[:EVENTS_PER_TRANSACTION]
                await self._handle(name, batch)
        finally:
            self._mark(name, False)

    async def _handle(self, name: str, events: list[DeviceEvent]) -> None:
        try:
            woke = await asyncio.to_thread(self.record_all, name, events)
        except Exception:
            if len(events) > 1:
                # One event that cannot be recorded must not take the others with it.
                for event in events:
                    await self._handle(name, [event])
                return
            log.exception(
                "recording a %s event of driver %s failed", type(events[0]).__name__, name
            )
            return
        if woke:
            self._wake_worker()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume every driver's stream until ``stop``; the caller closes the drivers."""
        tasks = [asyncio.create_task(self.consume(n, d)) for n, d in self._drivers.items()]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
