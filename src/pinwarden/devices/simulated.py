"""Simulated sandbox locks whose memory lives in the database, like a real lock's would.

Operations take the lock ``latency`` (clock time) to apply: a set becomes visible in
reads at ``now + latency``, a removal disappears then. An offline lock refuses calls.
Sandbox fault injection (``devices.sim_faults``) makes a lock slow, fail a fraction of
operations, drop codes it acknowledged, or hide PINs when read.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from pinwarden.clock import Clock
from pinwarden.devices.driver import DeviceRef, DeviceUnavailable, OpAck, SlotReport
from pinwarden.store.db import Database
from pinwarden.store.tables import Device, SimulatedSlot


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
        """The lock's fault settings; raises as an offline or flaky lock would."""
        row = session.execute(
            select(Device.online, Device.sim_faults).where(Device.device_id == device.device_id)
        ).first()
        if row is None or not row.online:
            raise DeviceUnavailable("the lock is offline")
        faults: dict[str, Any] = row.sim_faults or {}
        if faults.get("hub_disconnected"):
            raise DeviceUnavailable("the lock's hub is disconnected", "hub_disconnected")
        if self._rng.random() < float(faults.get("failure_rate", 0.0)):
            raise DeviceUnavailable("the lock did not answer (simulated failure)")
        return faults

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
            rows = session.scalars(
                select(SimulatedSlot)
                .where(
                    SimulatedSlot.device_id == device.device_id,
                    SimulatedSlot.visible_from <= now,
                    or_(SimulatedSlot.gone_at.is_(None), SimulatedSlot.gone_at > now),
                )
                .order_by(SimulatedSlot.slot, SimulatedSlot.visible_from)
            ).all()
        # The newest applied write to a slot is what the keypad holds.
        hide = bool(faults.get("mask_pins"))
        latest = {
            row.slot: SlotReport(
                row.slot, None if hide else row.code, row.name, row.starts_at, row.ends_at
            )
            for row in rows
        }
        return list(latest.values())

    def _end_slot(self, session: Session, device_id: str, slot: int, at: datetime) -> None:
        session.execute(
            update(SimulatedSlot)
            .where(
                SimulatedSlot.device_id == device_id,
                SimulatedSlot.slot == slot,
                or_(SimulatedSlot.gone_at.is_(None), SimulatedSlot.gone_at > at),
            )
            .values(gone_at=at)
        )
        session.execute(
            delete(SimulatedSlot).where(
                SimulatedSlot.device_id == device_id,
                SimulatedSlot.gone_at <= self._clock.now(),
            )
        )

    async def set_code(
        self,
        device: DeviceRef,
        slot: int,
        code: str,
        name: str | None,
        window: tuple[datetime, datetime] | None = None,
    ) -> OpAck:
        starts_at, ends_at = window if window is not None else (None, None)
        with self._db.write() as session:
            faults = self._reachable(session, device)
            at = self._settles_at(faults)
            if faults.get("drop_after_ack"):
                return OpAck(settles_at=at)  # acknowledged, then forgotten
            self._end_slot(session, device.device_id, slot, at)
            session.add(
                SimulatedSlot(
                    device_id=device.device_id,
                    slot=slot,
                    code=code,
                    name=name,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    visible_from=at,
                )
            )
        return OpAck(settles_at=at)

    async def remove_code(self, device: DeviceRef, slot: int) -> OpAck:
        with self._db.write() as session:
            at = self._settles_at(self._reachable(session, device))
            self._end_slot(session, device.device_id, slot, at)
        return OpAck(settles_at=at)
