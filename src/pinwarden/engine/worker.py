"""The worker loop: claim due devices with a lease, reconcile them, sleep until the next one.

A device is due when ``next_reconcile_at <= now``. Claiming uses ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL so several workers can share the queue; on SQLite one worker
runs per process. API writes call :meth:`Worker.wake` so new work starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

from sqlalchemy import func, or_, select, update

from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.engine.reconciler import Reconciler
from pinwarden.store.db import Database
from pinwarden.store.tables import Device

log = logging.getLogger(__name__)

# Even with nothing due, look at the queue this often (other processes may add work).
IDLE_POLL_SECONDS = 5.0


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
        self._lock = threading.Lock()
        self._requests = 0
        self._idle = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        clock.subscribe(self.wake)

    def wake(self) -> None:
        """Ask the worker to look at the queue now (called after API writes and clock moves)."""
        with self._lock:
            self._requests += 1
            self._idle.clear()
            loop, event = self._loop, self._wake_event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every due device has been reconciled (tests and tools use this)."""
        if not self._idle.wait(timeout):
            raise TimeoutError("the worker did not become idle in time")

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
        with self._db.read() as session:
            next_due = session.scalar(select(func.min(Device.next_reconcile_at)))
        if next_due is None:
            return IDLE_POLL_SECONDS
        wait = self._clock.real_seconds_until(next_due)
        return IDLE_POLL_SECONDS if wait is None else min(wait, IDLE_POLL_SECONDS)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._wake_event = asyncio.Event()
            wake_event = self._wake_event
        while not stop.is_set():
            with self._lock:
                seen = self._requests
            wake_event.clear()
            try:
                handled = await self.run_once()
                pause = 0.0 if handled else self._seconds_to_next_due()
            except Exception:
                log.exception("worker pass failed")
                handled, pause = 0, 1.0
            if handled:
                continue
            with self._lock:
                if self._requests == seen and pause > 0:
                    self._idle.set()
            if pause > 0:
                stop_task = asyncio.ensure_future(stop.wait())
                wake_task = asyncio.ensure_future(wake_event.wait())
                await asyncio.wait(
                    {stop_task, wake_task}, timeout=pause, return_when=asyncio.FIRST_COMPLETED
                )
                stop_task.cancel()
                wake_task.cancel()


def run_in_thread(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    """Start ``worker`` on its own thread with its own event loop; set the event to stop it."""
    stop_flag = threading.Event()

    def _main() -> None:
        async def _runner() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=lambda: (stop_flag.wait(), loop.call_soon_threadsafe(stop.set)),
                daemon=True,
            ).start()
            await worker.run(stop)

        asyncio.run(_runner())

    thread = threading.Thread(target=_main, name="pinwarden-worker", daemon=True)
    thread.start()
    return thread, stop_flag
