"""What locks report on their own, turned into device state and Seam events.

One consumer per driver reads :meth:`Driver.events`; each event is recorded in its own
transaction (off the event loop): keypad unlock by slot → ``lock.unlocked`` naming the
code in that slot (and a one-time-use code is used up), manual lock/unlock →
``lock.locked``/``lock.unlocked``, online/offline → ``device.connected``/``disconnected``,
slot changed → a fresh read of the lock at once, battery → the device's level.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
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
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.sealed import matches
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode

log = logging.getLogger(__name__)
# Real seconds before a failed event stream is opened again.
STREAM_RETRY_SECONDS = 1.0


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

    def record(self, driver: str, event: DeviceEvent) -> bool:
        """Record one event of one of ``driver``'s locks in its own transaction; returns
        whether the worker should look. Events of unknown locks are dropped."""
        with self._db.write() as session:
            device = session.scalars(
                select(Device)
                .where(Device.driver == driver, Device.address == event.address)
                .with_for_update()
            ).first()
            if device is None:
                return False
            return record_device_event(session, device, event)

    async def consume(self, name: str, driver: Driver) -> None:
        """Record ``driver``'s events until its stream ends (at ``aclose``); a stream that
        fails is opened again after a pause."""
        while True:
            try:
                async for event in driver.events():
                    await self._handle(name, event)
                return
            except Exception:
                log.exception("the event stream of driver %s failed", name)
                await asyncio.sleep(STREAM_RETRY_SECONDS)

    async def _handle(self, name: str, event: DeviceEvent) -> None:
        try:
            woke = await asyncio.to_thread(self.record, name, event)
        except Exception:
            log.exception("recording a %s event of driver %s failed", type(event).__name__, name)
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
