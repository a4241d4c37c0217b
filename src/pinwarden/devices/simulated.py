"""Simulated sandbox locks whose memory lives in the database, like a real lock's would.

Operations take the lock ``latency`` (clock time) to apply: a set becomes visible in
reads at ``now + latency``, a removal disappears then. An offline lock refuses calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from pinwarden.clock import Clock
from pinwarden.devices.driver import DeviceRef, DeviceUnavailable, OpAck, SlotReport
from pinwarden.store.db import Database
from pinwarden.store.tables import Device, SimulatedSlot


class SimulatedDriver:
    """Driver for the sandbox lock models in :mod:`pinwarden.devices.models`."""

    def __init__(self, db: Database, clock: Clock, default_latency: timedelta) -> None:
        self._db = db
        self._clock = clock
        self._default_latency = default_latency

    def _latency(self, device: DeviceRef) -> timedelta:
        if device.sim_latency_ms is None:
            return self._default_latency
        return timedelta(milliseconds=device.sim_latency_ms)

    @staticmethod
    def _require_online(session: Session, device: DeviceRef) -> None:
        online = session.scalar(select(Device.online).where(Device.device_id == device.device_id))
        if not online:
            raise DeviceUnavailable("the lock is offline")

    async def read_slots(self, device: DeviceRef) -> list[SlotReport]:
        now = self._clock.now()
        with self._db.read() as session:
            self._require_online(session, device)
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
        latest = {
            row.slot: SlotReport(row.slot, row.code, row.name, row.starts_at, row.ends_at)
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
        at = self._clock.now() + self._latency(device)
        starts_at, ends_at = window if window is not None else (None, None)
        with self._db.write() as session:
            self._require_online(session, device)
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
        at = self._clock.now() + self._latency(device)
        with self._db.write() as session:
            self._require_online(session, device)
            self._end_slot(session, device.device_id, slot, at)
        return OpAck(settles_at=at)
