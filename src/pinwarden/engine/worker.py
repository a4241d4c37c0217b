"""The worker: claims due devices with leases and runs up to K reconciles at once.

Modelled on controller-runtime's controller and Oban's queue. A device is due when
``next_reconcile_at <= now``; the worker claims only ``K - running`` due devices (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so processes share the queue), and never a device it is
already reconciling. Each pass runs as its own task with a timeout, and writes only through
the lease fence (:mod:`pinwarden.engine.lease`); one keeper renews the leases of all the
passes in flight together, one statement a beat, and stops a pass whose lease is lost. The
reconciler returns a :class:`~pinwarden.engine.reconciler.PassResult`; this module alone
turns it into the next wake time, back-off and the lease's release (which the reconciler
runs in the pass's last write when it can: one transaction fewer per pass). Database work
runs on threads, so the event loop that drivers share never waits for a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update

from pinwarden.background import Signal, pause_until, run_loop
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.engine.lease import Claim, LeaseLost
from pinwarden.engine.reconciler import PassResult, Reconciler
from pinwarden.metrics import Metrics
from pinwarden.store.db import Database
from pinwarden.store.tables import Device

log = logging.getLogger(__name__)

# A pass that raised, timed out or was cancelled is retried like a failing lock.
FAILED = PassResult(wake_at=None, failed=True)


@dataclass
class _Lease:
    """A pass in flight as the lease keeper sees it."""

    claim: Claim
    work: asyncio.Future[PassResult]
    # time.monotonic() until which the lease is surely still ours (its last renewal's
    # start, or the claim's, plus a lease length).
    safe_until: float
    # The keeper stopped the pass: the lease is gone, or may lapse before it can renew.
    lost: bool = False


def backoff(failures: int, base: timedelta, cap: timedelta) -> timedelta:
    """Capped exponential back-off: base, 2·base, 4·base, … up to ``cap``."""
    step: timedelta = base * (2 ** max(0, min(failures - 1, 20)))
    return min(cap, step)


class Worker:
    """Runs reconciles for due devices; safe to wake from any thread."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        reconciler: Reconciler,
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._reconciler = reconciler
        self._settings = settings
        self._metrics = metrics or Metrics()
        # time.monotonic() of the loop's latest step; None until it first ran.
        self._heartbeat: float | None = None
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._claims = itertools.count(1)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._leases: dict[str, _Lease] = {}
        self._keeper: asyncio.Task[None] | None = None
        self.signal = Signal()
        clock.subscribe(self.wake)

    def wake(self) -> None:
        """Ask the worker to look at the queue now (called after API writes and clock moves)."""
        self.signal.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every due device has been reconciled (tests and tools use this)."""
        self.signal.wait_idle(timeout)

    def heartbeat_age(self) -> float | None:
        """Real seconds since the worker loop last looked at the queue; None before its
        first look. An idle loop looks at least every ``idle_poll``."""
        beat = self._heartbeat
        return None if beat is None else time.monotonic() - beat

    @property
    def running(self) -> int:
        """How many passes this worker has in flight."""
        return len(self._running)

    def claim_due(self) -> list[Claim]:
        """Lease as many due devices as there is room for among this worker's passes."""
        room = self._settings.worker_concurrency - len(self._running)
        if room <= 0:
            return []
        now = self._clock.now()
        stmt = (
            select(Device.device_id, Device.wake_seq)
            .where(
                Device.next_reconcile_at <= now,
                or_(Device.lease_until.is_(None), Device.lease_until < now),
            )
            .order_by(Device.next_reconcile_at)
            .limit(room)
            .with_for_update(skip_locked=True)
        )
        if self._running:
            stmt = stmt.where(Device.device_id.not_in(list(self._running)))
        with self._db.write() as session:
            rows = session.execute(stmt).all()
            claims = [
                Claim(r.device_id, r.wake_seq, f"{self.owner}.{next(self._claims)}") for r in rows
            ]
            if claims:
                # One token per claim: a CASE keeps it to a single statement.
                session.execute(
                    update(Device)
                    .where(Device.device_id.in_([c.device_id for c in claims]))
                    .values(
                        lease_until=now + self._settings.lease_duration,
                        lease_owner=case(
                            {c.device_id: c.token for c in claims}, value=Device.device_id
                        ),
                    )
                )
        return claims

    async def run_once(self) -> int:
        """Claim what is due now and run those passes to the end; returns how many ran."""
        claims = await asyncio.to_thread(self.claim_due)
        await asyncio.gather(*(self._start(c) for c in claims))
        return len(claims)

    def _start(self, claim: Claim) -> asyncio.Task[None]:
        task = asyncio.create_task(self._pass(claim), name=f"reconcile {claim.device_id}")
        self._running[claim.device_id] = task

        def finished(_done: asyncio.Task[None]) -> None:
            self._running.pop(claim.device_id, None)
            self.wake()  # room for another claim, and this device may be due again

        task.add_done_callback(finished)
        return task

    async def _pass(self, claim: Claim) -> None:
        """One reconcile under a timeout and a live lease; then back-off and release."""
        started = time.perf_counter()
        outcome = await self._supervised(claim)
        self._metrics.reconciles.labels(outcome).inc()
        self._metrics.reconcile_duration.observe(time.perf_counter() - started)

    async def _supervised(self, claim: Claim) -> str:
        """Run the pass; returns its outcome for the metrics."""
        work = asyncio.ensure_future(
            self._reconciler.reconcile(
                claim, lambda device, result: self._release(device, claim, result)
            )
        )
        lease = _Lease(
            claim, work, time.monotonic() + self._settings.lease_duration.total_seconds()
        )
        self._leases[claim.device_id] = lease
        self._keep_leases()
        try:
            await asyncio.wait({work}, timeout=self._settings.reconcile_timeout.total_seconds())
        finally:
            del self._leases[claim.device_id]
            if not work.done():
                work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        finished = not work.cancelled() and work.exception() is None
        if finished and work.result().released:
            # Released with the outcome (a renewal racing it may have seen the lease gone).
            return "failed" if work.result().failed else "ok"
        if lease.lost:
            log.warning("lost the lease on device %s mid-pass; the pass stopped", claim.device_id)
            return "lease_lost"
        if work.cancelled():
            log.warning("reconcile of device %s timed out; retrying later", claim.device_id)
            result, outcome = FAILED, "timeout"
        elif isinstance(work.exception(), LeaseLost):
            log.info("device %s taken over or removed mid-pass; nothing written", claim.device_id)
            return "lease_lost"
        elif (exc := work.exception()) is not None:
            log.error("reconcile of device %s failed", claim.device_id, exc_info=exc)
            result, outcome = FAILED, "failed"
        else:
            result = work.result()
            outcome = "failed" if result.failed else "ok"
        with contextlib.suppress(LeaseLost):
            await self._reconciler.writes.run(
                claim, lambda _session, device: self._release(device, claim, result)
            )
        return outcome

    def _keep_leases(self) -> None:
        """Start the lease keeper on this event loop, unless it runs already."""
        keeper = self._keeper
        if keeper is None or keeper.done() or keeper.get_loop() is not asyncio.get_running_loop():
            self._keeper = asyncio.create_task(self._keeper_loop(), name="lease keeper")

    async def _keeper_loop(self) -> None:
        """Every third of a lease length, extend the leases of all passes in flight in one
        statement, until none is left. A pass whose claim lost its lease stops, and so does
        one whose lease could lapse before the next beat (no renewal got through for two
        beats): better than racing the device's next owner at the lock."""
        length = self._settings.lease_duration.total_seconds()
        every = length / 3
        while True:
            await asyncio.sleep(every)
            leases = list(self._leases.values())
            if not leases:
                return
            attempt = time.monotonic()
            held: set[str] | None
            try:
                held = await asyncio.to_thread(self.renew, [lease.claim for lease in leases])
            except Exception:
                log.exception("renewing the leases of %d passes failed", len(leases))
                held = None
            for lease in leases:
                if lease.work.done():
                    continue
                if held is not None and lease.claim.token in held:
                    lease.safe_until = attempt + length
                elif held is not None or time.monotonic() >= lease.safe_until - every:
                    lease.lost = True
                    lease.work.cancel()

    def renew(self, claims: list[Claim]) -> set[str]:
        """Push the leases' ends out by a lease length; returns the tokens of the claims
        that still hold their devices."""
        tokens = {c.device_id: c.token for c in claims}
        with self._db.write() as session:
            # Locked in id order first, as every write to several devices locks them: an
            # UPDATE locks rows in the order it finds them, and so deadlocked with this
            # worker's own write groups on PostgreSQL (and with an API write waiting on one).
            session.execute(
                select(Device.device_id)
                .where(Device.device_id.in_(sorted(tokens)))
                .order_by(Device.device_id)
                .with_for_update()
            )
            held = session.scalars(
                update(Device)
                .where(
                    Device.device_id.in_(list(tokens)),
                    Device.lease_owner == case(tokens, value=Device.device_id),
                )
                .values(lease_until=self._clock.now() + self._settings.lease_duration)
                .returning(Device.lease_owner)
            )
            return {token for token in held if token is not None}

    def _release(self, device: Device, claim: Claim, result: PassResult) -> None:
        """Release the lease, scheduling the next pass as ``result`` asks (runs fenced)."""
        now = self._clock.now()
        wake_at = self._next_wake(device, result, now)
        # An API write during the pass bumped wake_seq: go round again at once.
        device.next_reconcile_at = now if device.wake_seq != claim.wake_seq else wake_at
        device.lease_until = None
        device.lease_owner = None

    def _next_wake(self, device: Device, result: PassResult, now: datetime) -> datetime:
        if not result.failed:
            device.failure_count = 0
            return result.wake_at or now + self._settings.drift_check_interval
        # Whatever else is pending, a failing lock waits out the back-off (bounded
        # operations per lock however it fails), except for what must happen sooner.
        device.failure_count += 1
        retry = now + backoff(
            device.failure_count, self._settings.retry_base, self._settings.retry_cap
        )
        return retry if result.wake_at is None else min(retry, result.wake_at)

    def _seconds_to_next_due(self) -> float:
        """Seconds until some device not running here is due: its wake time, or the end
        of its lease when that is later (a leased device is not due before)."""
        # Two index walks that stop at their first row, where ``min`` over a CASE would
        # read every device each time the worker goes idle.
        woken = (
            select(Device.next_reconcile_at)
            .where(
                Device.next_reconcile_at.is_not(None),
                Device.lease_until.is_(None) | (Device.lease_until <= Device.next_reconcile_at),
            )
            .order_by(Device.next_reconcile_at)
            .limit(1)
        )
        leased = (
            select(Device.lease_until)
            .where(Device.lease_until.is_not(None), Device.lease_until > Device.next_reconcile_at)
            .order_by(Device.lease_until)
            .limit(1)
        )
        if self._running:
            running = list(self._running)
            woken = woken.where(Device.device_id.not_in(running))
            leased = leased.where(Device.device_id.not_in(running))
        with self._db.read() as session:
            times = [session.scalar(woken), session.scalar(leased)]
        next_due = min((t for t in times if t is not None), default=None)
        return pause_until(self._clock, next_due, self._settings.idle_poll)

    async def _step(self) -> float | None:
        self._heartbeat = time.monotonic()
        claims = await asyncio.to_thread(self.claim_due)
        for claim in claims:
            self._start(claim)
        if claims:
            return None
        return await asyncio.to_thread(self._seconds_to_next_due)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set; passes still running then are cancelled."""
        try:
            await run_loop(
                self.signal, stop, self._step, busy=lambda: bool(self._running), name="worker"
            )
        finally:
            tasks = list(self._running.values())
            # A keeper left over from an earlier event loop is done already.
            if self._keeper is not None and not self._keeper.done():
                tasks.append(self._keeper)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
