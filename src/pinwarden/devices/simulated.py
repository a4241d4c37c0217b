"""Simulated sandbox locks whose memory lives in the database, like a real lock's would.

Operations take the lock ``latency`` (clock time) to apply: a set becomes visible in
reads at ``now + latency``, a removal disappears then. An offline lock refuses calls.
Sandbox fault injection (``devices.sim_faults``) makes a lock slow, fail a fraction of
operations (no answer), refuse a fraction outright, drop codes it acknowledged, or hide PINs
when read.

Models with ``local_time_schedules`` (TTLock) take and report native schedules as local
wall-clock times in the device's time zone, with the DST fold (a lock that keeps a DST
flag with each time), and refuse a schedule while the zone is unknown. Their memory keeps
the instants at which the lock's clock reaches those times, so the keypad opens exactly
when the conversion to local time and back says it should.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from pinwarden.clock import Clock
from pinwarden.devices.driver import (
    DeviceRef,
    DeviceRejected,
    DeviceUnavailable,
    OpAck,
    OpOutcome,
    SlotOp,
    SlotReport,
)
from pinwarden.devices.models import LOCK_MODELS
from pinwarden.domain.localtime import Window, window_to_local, window_to_utc
from pinwarden.domain.offline_codes import FIRST_USE_WITHIN, read_offline_pin
from pinwarden.store.db import Database
from pinwarden.store.tables import Device, SimulatedSlot


def _wall_clock_zone(device: DeviceRef) -> ZoneInfo | None:
    """The zone a local-time lock's schedules are in; None for other locks, or while the
    zone is unknown."""
    if not LOCK_MODELS[device.model_key].local_time_schedules or device.time_zone is None:
        return None
    return ZoneInfo(device.time_zone)


def _via_wall_clock(window: Window, zone: ZoneInfo) -> Window:
    """A window passed between pinwarden and a local-time lock: as wall-clock times in
    ``zone`` one way, as instants of the lock's clock the other."""
    return window_to_utc(window_to_local(window, zone), zone)


def _held_at(now: datetime) -> ColumnElement[bool]:
    """Slot rows the lock holds at ``now``: written, and not yet overwritten or cleared."""
    return and_(
        SimulatedSlot.visible_from <= now,
        or_(SimulatedSlot.gone_at.is_(None), SimulatedSlot.gone_at > now),
    )


class SimulatedDriver:
    """Driver for the sandbox lock models in :mod:`pinwarden.devices.models`."""

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

    def _reachable(self, session: Session, device: DeviceRef) -> dict[str, Any]:
        """The lock's fault settings; raises as an offline lock (or hub) would."""
        row = session.execute(
            select(Device.online, Device.sim_faults).where(Device.device_id == device.device_id)
        ).first()
        if row is None or not row.online:
            raise DeviceUnavailable("the lock is offline")
        faults: dict[str, Any] = row.sim_faults or {}
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

    async def read_slots(self, device: DeviceRef) -> list[SlotReport]:
        now = self._clock.now()
        with self._db.read() as session:
            faults = self._reachable(session, device)
            failure = self._flaky(faults)
            if failure is not None:
                raise failure
            rows = session.scalars(
                select(SimulatedSlot)
                .where(
                    SimulatedSlot.device_id == device.device_id,
                    _held_at(now),
                )
                .order_by(SimulatedSlot.slot, SimulatedSlot.visible_from)
            ).all()
        # The newest applied write to a slot is what the keypad holds.
        hide = bool(faults.get("mask_pins"))
        zone = _wall_clock_zone(device)
        latest: dict[int, SlotReport] = {}
        for row in rows:
            starts_at, ends_at = row.starts_at, row.ends_at
            if zone is not None and starts_at is not None and ends_at is not None:
                starts_at, ends_at = _via_wall_clock((starts_at, ends_at), zone)
            latest[row.slot] = SlotReport(
                row.slot, None if hide else row.code, row.name, starts_at, ends_at
            )
        return list(latest.values())

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        """All of a pass's operations in one transaction of the lock's memory."""
        with self._db.write() as session:
            try:
                faults = self._reachable(session, device)
            except DeviceUnavailable as exc:
                return [exc for _ in ops]
            session.execute(
                delete(SimulatedSlot).where(
                    SimulatedSlot.device_id == device.device_id,
                    SimulatedSlot.gone_at <= self._clock.now(),
                )
            )
            zone = _wall_clock_zone(device)
            local_time = LOCK_MODELS[device.model_key].local_time_schedules
            outcomes: list[OpOutcome] = []
            # The batch lands together; written with one statement for all its slots.
            at = self._settles_at(faults)
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
                outcomes.append(OpAck(settles_at=at))
                if op.kind == "set" and faults.get("drop_after_ack"):
                    continue  # acknowledged, then forgotten
                if op.kind == "remove" and op.code is not None:
                    if holding is None:
                        holding = occupied_slots(session, device.device_id, self._clock.now())
                    if holding.get(op.slot) != op.code:
                        continue  # the slot holds another PIN now: nothing to clear
                landed.append((op, window))
            self._end_slots(session, device.device_id, [op.slot for op, _ in landed], at)
            session.add_all(
                SimulatedSlot(
                    device_id=device.device_id,
                    slot=op.slot,
                    code=op.code,
                    name=op.name,
                    starts_at=window[0] if window is not None else None,
                    ends_at=window[1] if window is not None else None,
                    visible_from=at,
                )
                for op, window in landed
                if op.kind == "set"
            )
        return outcomes

    @staticmethod
    def _end_slots(session: Session, device_id: str, slots: list[int], at: datetime) -> None:
        """Whatever the slots hold is gone from ``at`` on."""
        if not slots:
            return
        session.execute(
            update(SimulatedSlot)
            .where(
                SimulatedSlot.device_id == device_id,
                SimulatedSlot.slot.in_(slots),
                or_(SimulatedSlot.gone_at.is_(None), SimulatedSlot.gone_at > at),
            )
            .values(gone_at=at)
        )


def edit_at_keypad(
    session: Session,
    device_id: str,
    slot: int,
    code: str | None,
    now: datetime,
    name: str | None = None,
) -> None:
    """Someone at the lock changes the PIN in ``slot`` (or deletes it, ``code`` None; or
    programs an empty slot, naming it ``name``), effective at once and without telling
    pinwarden."""
    current = session.scalars(
        select(SimulatedSlot)
        .where(
            SimulatedSlot.device_id == device_id,
            SimulatedSlot.slot == slot,
            _held_at(now),
        )
        .order_by(SimulatedSlot.visible_from.desc())
    ).first()
    SimulatedDriver._end_slots(session, device_id, [slot], now)
    if code is not None:
        session.add(
            SimulatedSlot(
                device_id=device_id,
                slot=slot,
                code=code,
                name=current.name if current is not None else name,
                starts_at=current.starts_at if current is not None else None,
                ends_at=current.ends_at if current is not None else None,
                visible_from=now,
            )
        )


def keypad_accepts(session: Session, device_id: str, code: str, now: datetime) -> int | None:
    """The slot whose PIN opens the lock right now (inside its native window, if any)."""
    rows = session.scalars(
        select(SimulatedSlot).where(
            SimulatedSlot.device_id == device_id,
            SimulatedSlot.code == code,
            _held_at(now),
        )
    ).all()
    for row in rows:
        if row.starts_at is None or row.ends_at is None or row.starts_at <= now < row.ends_at:
            return row.slot
    return None


def occupied_slots(session: Session, device_id: str, now: datetime) -> dict[int, str]:
    """Every slot that holds a PIN now or will once a pending write lands, with its PIN
    (the latest write's, where one is still landing)."""
    rows = session.execute(
        select(SimulatedSlot.slot, SimulatedSlot.code)
        .where(
            SimulatedSlot.device_id == device_id,
            or_(SimulatedSlot.gone_at.is_(None), SimulatedSlot.gone_at > now),
        )
        .order_by(SimulatedSlot.visible_from)
    ).all()
    return {r.slot: r.code for r in rows}


def keypad_accepts_offline(device: Device, code: str, now: datetime) -> bool:
    """Whether the lock, with its own key and clock, reads ``code`` as an offline PIN valid
    now. It remembers PINs once used: a one-time PIN works once, and a longer one only if
    first used within 24 hours of its start (R183)."""
    model = LOCK_MODELS[device.model_key]
    if not model.can_program_offline_access_codes or device.offline_code_secret is None:
        return False
    window = read_offline_pin(bytes.fromhex(device.offline_code_secret), code, now)
    if window is None or not window.starts_at <= now < window.ends_at:
        return False
    seen = code in device.sim_used_offline_pins
    if window.kind == "one_time" and seen:
        return False
    if not seen and now >= window.starts_at + FIRST_USE_WITHIN:
        return False
    if not seen:
        device.sim_used_offline_pins = [*device.sim_used_offline_pins, code]
    return True
