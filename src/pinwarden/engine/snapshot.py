"""What a pass starts from: the device, its codes and its pending requests, as read at once.

Snapshots are read for many devices together, a few column-only queries per batch of
passes (no ORM objects: nothing here is written back), so a busy worker pays per row,
not per query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.devices.capabilities import LockCapabilities
from pinwarden.devices.driver import DeviceRef
from pinwarden.domain.issues import has_error
from pinwarden.domain.recurrence import window_at
from pinwarden.engine import doors, unmanaged
from pinwarden.engine.plan import CodeState
from pinwarden.store.tables import AccessCode, Device
from pinwarden.store.views import ACCOUNT_DISCONNECTED


@dataclass(frozen=True)
class Snapshot:
    """One device as a pass found it."""

    ref: DeviceRef
    driver: str
    slot_count: int
    codes: list[CodeState]
    # The account the lock comes through is disconnected: the lock cannot be reached (T18).
    account_disconnected: bool
    # Unmanaged codes to take off the lock (unmanaged/delete), by id → slot.
    unmanaged_removals: dict[str, tuple[int, str | None]]
    # Ask the lock itself, not the driver's cache (Driver.read_slots).
    fresh: bool
    # Pending lock_door / unlock_door attempts, oldest first.
    door_commands: list[doors.DoorCommand]
    # Recurring codes (a pinwarden extension), by id: recurrence as stored, overall window.
    recurring: dict[str, tuple[dict[str, Any], datetime | None, datetime | None]] = field(
        default_factory=dict
    )

    def codes_at(self, now: datetime) -> list[CodeState]:
        """The codes as the plan sees them at ``now``: a recurring code is a time-bound
        code whose window is its current or next occurrence (finished once none is
        left), programmed just in time; the plan knows nothing of recurrences."""
        if not self.recurring:
            return self.codes
        states = []
        for c in self.codes:
            if c.access_code_id in self.recurring:
                recurrence, starts_at, ends_at = self.recurring[c.access_code_id]
                starts_at, ends_at = window_at(recurrence, starts_at, ends_at, now)
                c = replace(c, starts_at=starts_at, ends_at=ends_at)
            states.append(c)
        return states


_DEVICE = (
    Device.device_id,
    Device.address,
    Device.connected_account_id,
    Device.time_zone,
    Device.capabilities,
    Device.driver,
    Device.errors,
    Device.next_fresh_read_at,
)
# In this order: _state unpacks a row of it (tests/unit/test_snapshot_columns.py checks).
_CODE = (
    AccessCode.device_id,
    AccessCode.access_code_id,
    AccessCode.revision,
    AccessCode.code,
    AccessCode.name,
    AccessCode.starts_at,
    AccessCode.ends_at,
    AccessCode.deleted_at,
    AccessCode.used_at,
    AccessCode.is_offline_access_code,
    AccessCode.status,
    AccessCode.slot,
    AccessCode.op_kind,
    AccessCode.op_revision,
    AccessCode.op_settles_at,
    AccessCode.was_on_device,
    AccessCode.slot_code,
    AccessCode.is_external_modification_allowed,
    AccessCode.prefer_native_scheduling,
    AccessCode.is_scheduled_on_device,
    AccessCode.recurrence,
)


def _state(row: Sequence[Any], native: bool) -> CodeState:
    """A code as the plan sees it, from a row of ``_CODE`` (unpacked as a tuple: a hot
    loop, where a row's attribute lookups cost more than the rest together)."""
    (
        _device_id,
        access_code_id,
        revision,
        code,
        name,
        starts_at,
        ends_at,
        deleted_at,
        used_at,
        offline,
        status,
        slot,
        op_kind,
        op_revision,
        op_settles_at,
        was_on_device,
        slot_code,
        external_allowed,
        prefer_native,
        scheduled,
        recurrence,
    ) = row
    return CodeState(
        access_code_id=access_code_id,
        revision=revision,
        code=code,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        # A used one-time code goes the way of a deleted one (T20). (An offline one stays
        # on record until its end: the lock remembers the PIN as used, so it must not be
        # handed out again.)
        deleted=deleted_at is not None or (used_at is not None and not offline),
        status=status,
        slot=slot,
        op_kind=op_kind,
        op_revision=op_revision,
        op_settles_at=op_settles_at,
        was_on_device=was_on_device,
        slot_code=slot_code,
        is_external_modification_allowed=external_allowed,
        # Recurring codes are programmed per occurrence, never loaded natively.
        native=native and prefer_native and recurrence is None,
        is_scheduled_on_device=scheduled,
        offline=offline,
    )


def load_snapshots(session: Session, device_ids: list[str], now: datetime) -> dict[str, Snapshot]:
    """Snapshots of those of ``device_ids`` that still exist."""
    devices = session.execute(select(*_DEVICE).where(Device.device_id.in_(device_ids))).all()
    codes = defaultdict(list)
    for row in session.execute(
        select(*_CODE)
        .where(AccessCode.device_id.in_(device_ids))
        .order_by(AccessCode.created_at, AccessCode.access_code_id)
    ):
        codes[row.device_id].append(row)
    removals = unmanaged.removals(session, device_ids)
    door_commands = doors.pending(session, device_ids)
    snapshots = {}
    for device in devices:
        caps = LockCapabilities.from_json(device.capabilities)
        native = caps.schedules_natively(device.time_zone)
        rows = codes[device.device_id]
        states = [_state(row, native) for row in rows]
        snapshots[device.device_id] = Snapshot(
            DeviceRef(
                device.device_id,
                device.address,
                device.connected_account_id,
                device.time_zone,
                caps,
            ),
            device.driver,
            caps.slot_count,
            states,
            has_error(device.errors, ACCOUNT_DISCONNECTED),
            removals.get(device.device_id, {}),
            # Fresh on the drift check (or after the lock said a slot changed), and while
            # acknowledged operations wait to be seen.
            fresh=device.next_fresh_read_at is None
            or now >= device.next_fresh_read_at
            or any(c.op_kind is not None for c in states),
            door_commands=door_commands.get(device.device_id, []),
            recurring={
                r.access_code_id: (r.recurrence, r.starts_at, r.ends_at)
                for r in rows
                if r.recurrence is not None
            },
        )
    return snapshots
