"""The worker loop: claim due devices with a lease, reconcile them, sleep until the next one.

A device is due when ``next_reconcile_at <= now``. Claiming uses ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL so several workers can share the queue; on SQLite one worker
runs per process. API writes call :meth:`Worker.wake` so new work starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import case, func, or_, select, update

from pinwarden.background import Signal, pause_until, run_loop
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.engine.reconciler import Reconciler
from pinwarden.store.db import Database
from pinwarden.store.tables import Device

log = logging.getLogger(__name__)


class Worker:
    """Runs reconciles for due devices; safe to wake from any thread."""

    def __init__(
        self, db: Database, clock: Clock, reconciler: Reconciler, settings: Settings
    ) -> None:
        self._db = db
        self._clock = clock
        self._reconciler = reconciler
        self._settings = settings
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self.signal = Signal()
        clock.subscribe(self.wake)

    def wake(self) -> None:
        """Ask the worker to look at the queue now (called after API writes and clock moves)."""
        self.signal.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every due device has been reconciled (tests and tools use this)."""
        self.signal.wait_idle(timeout)

    def claim_due(self) -> list[tuple[str, int]]:
        """Lease up to a batch of due devices; returns (device_id, wake_seq) pairs."""
        now = self._clock.now()
        with self._db.write() as session:
            rows = session.execute(
                select(Device.device_id, Device.wake_seq)
                .where(
                    Device.next_reconcile_at <= now,
                    or_(Device.lease_until.is_(None), Device.lease_until < now),
                )
                .order_by(Device.next_reconcile_at)
                .limit(self._settings.worker_batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(
                    update(Device)
                    .where(Device.device_id.in_([r.device_id for r in rows]))
                    .values(lease_until=now + self._settings.lease_duration, lease_owner=self.owner)
                )
        return [(r.device_id, r.wake_seq) for r in rows]

    async def run_once(self) -> int:
        """Reconcile every device due now; returns how many were handled."""
        claimed = self.claim_due()
        for device_id, seq in claimed:
            try:
                await self._reconciler.reconcile(device_id, seq)
            except Exception:
                log.exception("reconcile of device %s failed", device_id)
                self._release_after_crash(device_id)
        return len(claimed)

    def _release_after_crash(self, device_id: str) -> None:
        retry = self._clock.now() + self._settings.retry_base
        with self._db.write() as session:
            session.execute(
                update(Device)
                .where(Device.device_id == device_id, Device.lease_owner == self.owner)
                .values(lease_until=None, lease_owner=None, next_reconcile_at=retry)
            )

    def _seconds_to_next_due(self) -> float:
        # A leased device is not due before its lease runs out, whatever its wake time.
        due_at = case(
            (Device.lease_until > Device.next_reconcile_at, Device.lease_until),
            else_=Device.next_reconcile_at,
        )
        with self._db.read() as session:
            next_due = session.scalar(select(func.min(due_at)))
        return pause_until(self._clock, next_due, self._settings.idle_poll)

    async def _step(self) -> float | None:
        handled = await self.run_once()
        return None if handled else self._seconds_to_next_due()

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set."""
        await run_loop(self.signal, stop, self._step, name="worker")
