"""Delivering the outbox: signed POSTs with retries, one lane per webhook.

Deliveries are rows written in the same transaction as their event. A deliverer leases a
webhook's *lane* (``SKIP LOCKED`` on PostgreSQL), sends that webhook's due deliveries in
order over a kept-alive connection, records the outcomes in groups fenced by the lease, and
schedules retries per R160. The transaction that records a lane's last group also takes
the deliveries that came due meanwhile, so a busy lane keeps going without a new claim,
and events queued for a lane that is sending do not wake the claiming loop. One slow or
dead receiver holds only its own lane, and a workspace can hold only a few lanes at once.
A delivery counts as done only once its 2xx is recorded; a crash loses nothing: the lane
lease runs out and the unrecorded deliveries go out again (at-least-once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import Table, bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from pinwarden import __version__
from pinwarden.background import Signal, pause_until, run_loop
from pinwarden.clock import Clock, SystemClock
from pinwarden.config import Settings
from pinwarden.metrics import Metrics
from pinwarden.store import audit
from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED, WEBHOOKS_DELETED, event_json
from pinwarden.store.tables import Event, Webhook, WebhookAttempt, WebhookDelivery
from pinwarden.webhooks.schedule import MAX_ATTEMPTS, RETRY_DELAYS, delay_before_attempt
from pinwarden.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

LANE_BATCH = 50
# Fast successes are recorded in groups; anything slow or failed is recorded at once.
RECORD_BATCH = 20
SLOW_SECONDS = 1.0
# A lane confirms that its webhook still exists and is still its own at least this often
# (and before its next request once this process deleted the webhook).
OWNERSHIP_RECHECK_SECONDS = 0.25
# A receiver's answer is read (and dropped) up to this size, so that its connection can
# carry the next delivery; a longer answer closes the connection instead.
MAX_ANSWER_BYTES = 64 * 1024
LANES_PER_WORKSPACE = 8
# After a receiver could not be reached, its lane rests this long before the next try.
UNREACHABLE_PAUSE = timedelta(seconds=5)
PRUNE_EVERY_SECONDS = 3600.0
# Events are kept at least as long as a delivery can still be retried.
MIN_RETENTION = sum(RETRY_DELAYS, timedelta()) + timedelta(days=1)


_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ATTEMPTS = cast(Table, WebhookAttempt.__table__)
_WEBHOOKS = cast(Table, Webhook.__table__)

# One statement per outcome group, executed for many rows at once.
_RECORD_OUTCOME = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"), _DELIVERIES.c.status == "pending")
    .values(
        attempts=bindparam("b_attempts"),
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next_attempt_at"),
    )
)


@dataclass(frozen=True)
class Job:
    """One due delivery, with everything needed to send it."""

    delivery_id: int
    webhook_id: str
    url: str
    secret: str
    message_id: str
    body: str
    # When its event was written: delivery lag is measured from here.
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def reached(self) -> bool:
        """The receiver answered at all."""
        return self.status_code is not None


def event_body(payload: dict[str, object]) -> str:
    """The exact bytes that are signed and sent (R166)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class Deliverer:
    """Sends due webhook deliveries; safe to wake from any thread."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics or Metrics()
        # Receivers check svix-timestamp against their own clock, so it is always real time.
        self._wall_clock = SystemClock()
        self._settings = settings
        self.owner = f"deliverer-{uuid.uuid4().hex[:12]}"
        self.signal = Signal()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._lane_workspaces: dict[str, str] = {}
        self._last_prune: float | None = None
        # Shared with the threads that commit: lanes now sending (deliveries queued for
        # them need no wake-up: the lane takes them before it lets go), and webhooks this
        # process deleted since their lane last looked.
        self._hook_lock = threading.Lock()
        self._sending: set[str] = set()
        self._deleted: set[str] = set()
        clock.subscribe(self.wake)
        db.on_commit(self._committed)

    def _committed(self, info: dict[str, object]) -> None:
        deleted = info.get(WEBHOOKS_DELETED)
        queued = info.get(DELIVERIES_QUEUED)
        with self._hook_lock:
            if isinstance(deleted, set):
                self._deleted.update(deleted & self._sending)
            if not queued or (isinstance(queued, set) and queued <= self._sending):
                return
        self.wake()

    def wake(self) -> None:
        """Look for due deliveries now."""
        self.signal.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until nothing is due and no lane is sending."""
        self.signal.wait_idle(timeout)

    def claim_lanes(self, room: int) -> dict[str, list[Job]]:
        """Lease up to ``room`` webhooks with due deliveries; their due jobs, in order."""
        now = self._clock.now()
        per_workspace = Counter(self._lane_workspaces.values())
        claimed: dict[str, list[Job]] = {}
        with self._db.write() as session:
            due = (
                select(WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .distinct()
            )
            hooks = session.scalars(
                select(Webhook)
                .where(
                    Webhook.webhook_id.in_(due),
                    or_(Webhook.lane_until.is_(None), Webhook.lane_until < now),
                )
                .order_by(Webhook.lane_until.is_not(None), Webhook.lane_until, Webhook.webhook_id)
                .limit(room * 4)
                .with_for_update(skip_locked=True)
            ).all()
            for hook in hooks:
                if len(claimed) >= room or per_workspace[hook.workspace_id] >= LANES_PER_WORKSPACE:
                    continue
                per_workspace[hook.workspace_id] += 1
                hook.lane_owner = self.owner
                hook.lane_until = now + self._settings.delivery_lease
                self._lane_workspaces[hook.webhook_id] = hook.workspace_id
                claimed[hook.webhook_id] = self._due_jobs(
                    session, hook.webhook_id, hook.url, hook.secret, now
                )
        return claimed

    @staticmethod
    def _due_jobs(
        session: Session, webhook_id: str, url: str, secret: str, now: datetime
    ) -> list[Job]:
        """The webhook's next due deliveries, oldest first."""
        rows = session.execute(
            select(_DELIVERIES.c.id, Event.event_id, Event.payload, Event.secrets, Event.created_at)
            .join(Event, Event.seq == _DELIVERIES.c.event_seq)
            .where(
                _DELIVERIES.c.webhook_id == webhook_id,
                _DELIVERIES.c.status == "pending",
                _DELIVERIES.c.next_attempt_at <= now,
            )
            .order_by(_DELIVERIES.c.id)
            .limit(LANE_BATCH)
        ).all()
        return [
            Job(
                row.id,
                webhook_id,
                url,
                secret,
                f"msg_{row.event_id}",
                event_body(event_json(row.payload, row.secrets)),
                row.created_at,
            )
            for row in rows
        ]

    async def send(self, client: httpx.AsyncClient, job: Job) -> Outcome:
        """One signed POST, bounded by the timeout as a whole; never raises."""
        attempted_at = self._clock.now()
        headers = signed_headers(job.secret, job.message_id, self._wall_clock.now(), job.body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = f"pinwarden-webhooks/{__version__}"
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._settings.webhook_timeout.total_seconds()):
                # Streamed and never read: a receiver cannot make us hold its body.
                async with client.stream(
                    "POST", job.url, content=job.body.encode(), headers=headers
                ) as response:
                    status = response.status_code
                    # A short answer is read to its end, so that the connection stays
                    # open for the next delivery; a long one is cut off with it.
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_ANSWER_BYTES:
                            break
        except TimeoutError:
            error = "timed out"
        except Exception as exc:  # any failure to deliver is an attempt, never a crash
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration = int((time.perf_counter() - started) * 1000)
        return Outcome(attempted_at, status, error, duration)

    def _still_ours(self, webhook_id: str) -> bool:
        with self._db.rows() as conn:
            owner = conn.scalar(
                select(_WEBHOOKS.c.lane_owner).where(_WEBHOOKS.c.webhook_id == webhook_id)
            )
        return owner == self.owner

    def record(
        self,
        webhook_id: str,
        results: list[tuple[Job, Outcome]],
        release: bool = False,
        refill: bool = False,
    ) -> list[Job] | None:
        """Log attempts and schedule what follows, if the lane is still ours (else None).

        With ``refill``, the same transaction takes the webhook's next due deliveries
        and keeps the lane when there are any (returned), or lets it go when there are
        none; with ``release`` it lets go in any case."""
        now = self._clock.now()
        with self._db.write() as session:
            # The fence: only the lane's owner records, and the row stays locked
            # (PostgreSQL) until the outcomes are written.
            hook = session.execute(
                select(_WEBHOOKS.c.url, _WEBHOOKS.c.secret)
                .where(_WEBHOOKS.c.webhook_id == webhook_id, _WEBHOOKS.c.lane_owner == self.owner)
                .with_for_update()
            ).first()
            if hook is None:
                return None  # deleted, or taken over after our lease ran out
            if results:
                self._record_outcomes(session, results)
            jobs: list[Job] = []
            if refill and not release:
                # From here on, deliveries queued for this webhook wake the claiming loop
                # again; those committed before are seen by this query (on SQLite, this
                # transaction holds the write lock already).
                with self._hook_lock:
                    self._sending.discard(webhook_id)
                jobs = self._due_jobs(session, webhook_id, hook.url, hook.secret, now)
                if jobs:
                    with self._hook_lock:
                        self._sending.add(webhook_id)
            lane: dict[str, Any]
            if not release and (jobs or not refill):
                lane = {"lane_until": now + self._settings.delivery_lease}
            else:
                unreachable = bool(results) and not results[-1][1].reached
                until = now + UNREACHABLE_PAUSE if unreachable else None
                lane = {"lane_owner": None, "lane_until": until}
            session.execute(
                update(_WEBHOOKS).where(_WEBHOOKS.c.webhook_id == webhook_id).values(**lane)
            )
            return jobs

    @staticmethod
    def _record_outcomes(session: Session, results: list[tuple[Job, Outcome]]) -> None:
        """Write a group of outcomes with one statement per table (Core, executemany)."""
        ids = [job.delivery_id for job, _ in results]
        counts: dict[int, int] = {
            row.id: row.attempts
            for row in session.execute(
                select(_DELIVERIES.c.id, _DELIVERIES.c.attempts).where(
                    _DELIVERIES.c.id.in_(ids), _DELIVERIES.c.status == "pending"
                )
            )
        }
        attempts: list[dict[str, object]] = []
        outcomes: list[dict[str, object]] = []
        for job, outcome in results:
            done = counts.get(job.delivery_id)
            if done is None:
                continue  # gone, or already recorded
            counts.pop(job.delivery_id)
            attempt = done + 1
            attempts.append(
                {
                    "delivery_id": job.delivery_id,
                    "attempted_at": outcome.attempted_at,
                    "status_code": outcome.status_code,
                    "error": outcome.error,
                    "duration_ms": outcome.duration_ms,
                }
            )
            status, next_at = "pending", None
            if outcome.ok:
                status = "succeeded"
            else:
                # Each delay is measured from the failed attempt (R160).
                delay = delay_before_attempt(attempt + 1)
                if delay is None:
                    status = "failed"
                    log.warning(
                        "webhook %s: giving up on delivery %s after %s attempts",
                        job.webhook_id,
                        job.delivery_id,
                        MAX_ATTEMPTS,
                    )
                else:
                    next_at = outcome.attempted_at + delay
            outcomes.append(
                {
                    "b_id": job.delivery_id,
                    "b_attempts": attempt,
                    "b_status": status,
                    "b_next_attempt_at": next_at,
                }
            )
        if attempts:
            session.execute(insert(_ATTEMPTS), attempts)
            session.execute(_RECORD_OUTCOME, outcomes)

    def _observe(self, job: Job, outcome: Outcome) -> None:
        if outcome.ok:
            self._metrics.webhook_deliveries.labels("succeeded").inc()
            lag = (outcome.attempted_at - job.created_at).total_seconds()
            self._metrics.webhook_lag.observe(max(0.0, lag))
        else:
            label = "http_error" if outcome.reached else "unreachable"
            self._metrics.webhook_deliveries.labels(label).inc()

    def _must_recheck(self, webhook_id: str, confirmed: float) -> bool:
        with self._hook_lock:
            if webhook_id in self._deleted:
                return True
        return time.monotonic() - confirmed > OWNERSHIP_RECHECK_SECONDS

    async def _lane(self, client: httpx.AsyncClient, webhook_id: str, jobs: list[Job]) -> None:
        pending: list[tuple[Job, Outcome]] = []
        confirmed = time.monotonic()  # the claim just now made the lane ours
        done = False  # the lane was let go of (or lost) by a recorded transaction
        try:
            while jobs:
                for job in jobs:
                    if self._must_recheck(webhook_id, confirmed):
                        if not await asyncio.to_thread(self._still_ours, webhook_id):
                            pending = []
                            return  # the webhook was deleted, or another process took over
                        confirmed = time.monotonic()
                    outcome = await self.send(client, job)
                    self._observe(job, outcome)
                    pending.append((job, outcome))
                    if not outcome.reached:
                        return  # the receiver is unreachable: rest, let the others go first
                    slow = outcome.duration_ms > SLOW_SECONDS * 1000
                    if not outcome.ok or slow or len(pending) >= RECORD_BATCH:
                        kept = await asyncio.to_thread(self.record, webhook_id, pending)
                        pending = []
                        if kept is None:
                            done = True
                            return
                        confirmed = time.monotonic()
                # The refill stops counting the lane as sending while it looks (see record).
                refilled = await asyncio.to_thread(self.record, webhook_id, pending, refill=True)
                pending = []
                if not refilled:
                    done = True
                    return
                confirmed = time.monotonic()
                jobs = refilled
        finally:
            with self._hook_lock:
                self._sending.discard(webhook_id)
                self._deleted.discard(webhook_id)
            if not done:
                try:
                    await asyncio.to_thread(self.record, webhook_id, pending, True)
                except Exception:
                    log.exception("recording deliveries of webhook %s failed", webhook_id)

    def _start_lane(self, client: httpx.AsyncClient, webhook_id: str, jobs: list[Job]) -> None:
        with self._hook_lock:
            self._sending.add(webhook_id)
        task = asyncio.create_task(self._lane(client, webhook_id, jobs))
        self._lanes[webhook_id] = task

        def finished(done: asyncio.Task[None]) -> None:
            self._lanes.pop(webhook_id, None)
            self._lane_workspaces.pop(webhook_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.error("lane of webhook %s failed", webhook_id, exc_info=done.exception())
            self.wake()

        task.add_done_callback(finished)

    def _seconds_to_next_due(self) -> float:
        # A delivery is not due before its webhook's lane is free.
        due_at = case(
            (Webhook.lane_until > WebhookDelivery.next_attempt_at, Webhook.lane_until),
            else_=WebhookDelivery.next_attempt_at,
        )
        stmt = (
            select(func.min(due_at))
            .select_from(WebhookDelivery)
            .join(Webhook, Webhook.webhook_id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == "pending")
        )
        if self._lanes:
            stmt = stmt.where(WebhookDelivery.webhook_id.not_in(list(self._lanes)))
        with self._db.read() as session:
            next_due: datetime | None = session.scalar(stmt)
        return pause_until(self._clock, next_due, self._settings.idle_poll)

    def prune_events(self) -> int:
        """Drop events past retention (never less than the retry horizon) that owe nothing."""
        retention = max(self._settings.event_retention, MIN_RETENTION)
        cutoff = self._clock.now() - retention
        owed = exists().where(
            WebhookDelivery.event_seq == Event.seq, WebhookDelivery.status == "pending"
        )
        with self._db.write() as session:
            result = session.execute(delete(Event).where(Event.created_at < cutoff, ~owed))
        return int(getattr(result, "rowcount", 0) or 0)

    def prune_audit_log(self) -> int:
        """Drop audit entries older than ``PINWARDEN_AUDIT_RETENTION_DAYS``."""
        with self._db.write() as session:
            return audit.prune(session, self._clock.now(), self._settings.audit_retention)

    async def _step(self, client: httpx.AsyncClient) -> float | None:
        monotonic = time.monotonic()
        if self._last_prune is None or monotonic - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = monotonic
            await asyncio.to_thread(self.prune_events)
            await asyncio.to_thread(self.prune_audit_log)
        room = self._settings.webhook_lanes - len(self._lanes)
        claimed = await asyncio.to_thread(self.claim_lanes, room) if room > 0 else {}
        for webhook_id, jobs in claimed.items():
            self._start_lane(client, webhook_id, jobs)
        if claimed:
            return None
        return await asyncio.to_thread(self._seconds_to_next_due)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set."""
        limits = httpx.Limits(max_connections=self._settings.webhook_lanes)
        async with httpx.AsyncClient(
            follow_redirects=False,
            limits=limits,
            trust_env=False,  # no proxies or .netrc credentials from the environment
        ) as client:
            try:
                await run_loop(
                    self.signal,
                    stop,
                    lambda: self._step(client),
                    busy=lambda: bool(self._lanes),
                    name="deliverer",
                )
            finally:
                for task in list(self._lanes.values()):
                    task.cancel()
