"""Delivering the outbox: signed POSTs with retries, one lane per webhook.

Deliveries are rows written in the same transaction as their event. A deliverer leases a
webhook's *lane* (``SKIP LOCKED`` on PostgreSQL), sends that webhook's due deliveries in
order, records each outcome fenced by the lease, and schedules retries per R160. One slow
or dead receiver holds only its own lane, and a workspace can hold only a few lanes at
once. A crash loses nothing: the lane lease runs out and the unsent deliveries go out
again (at-least-once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import case, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from pinwarden import __version__
from pinwarden.background import Signal, pause_until, run_loop
from pinwarden.clock import Clock, SystemClock
from pinwarden.config import Settings
from pinwarden.metrics import Metrics
from pinwarden.store import audit
from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED
from pinwarden.store.tables import Event, Webhook, WebhookAttempt, WebhookDelivery
from pinwarden.webhooks.schedule import MAX_ATTEMPTS, RETRY_DELAYS, delay_before_attempt
from pinwarden.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

LANE_BATCH = 50
# Fast successes are recorded in groups; anything slow or failed is recorded at once.
RECORD_BATCH = 20
SLOW_SECONDS = 1.0
LANES_PER_WORKSPACE = 8
# After a receiver could not be reached, its lane rests this long before the next try.
UNREACHABLE_PAUSE = timedelta(seconds=5)
PRUNE_EVERY_SECONDS = 3600.0
# Events are kept at least as long as a delivery can still be retried.
MIN_RETENTION = sum(RETRY_DELAYS, timedelta()) + timedelta(days=1)


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
        clock.subscribe(self.wake)
        db.on_commit(lambda info: self.wake() if info.get(DELIVERIES_QUEUED) else None)

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
                rows = session.execute(
                    select(WebhookDelivery.id, Event.event_id, Event.payload, Event.created_at)
                    .join(Event, Event.seq == WebhookDelivery.event_seq)
                    .where(
                        WebhookDelivery.webhook_id == hook.webhook_id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(LANE_BATCH)
                ).all()
                self._lane_workspaces[hook.webhook_id] = hook.workspace_id
                claimed[hook.webhook_id] = [
                    Job(
                        row.id,
                        hook.webhook_id,
                        hook.url,
                        hook.secret,
                        f"msg_{row.event_id}",
                        event_body(row.payload),
                        row.created_at,
                    )
                    for row in rows
                ]
        return claimed

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
        except TimeoutError:
            error = "timed out"
        except Exception as exc:  # any failure to deliver is an attempt, never a crash
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration = int((time.perf_counter() - started) * 1000)
        return Outcome(attempted_at, status, error, duration)

    def _still_ours(self, webhook_id: str) -> bool:
        with self._db.read() as session:
            owner = session.scalar(
                select(Webhook.lane_owner).where(Webhook.webhook_id == webhook_id)
            )
        return owner == self.owner

    def record(
        self, webhook_id: str, results: list[tuple[Job, Outcome]], release: bool = False
    ) -> None:
        """Log attempts and schedule what follows, if the lane is still ours."""
        now = self._clock.now()
        with self._db.write() as session:
            hook = session.get(Webhook, webhook_id, with_for_update=True)
            if hook is None or hook.lane_owner != self.owner:
                return  # deleted, or taken over after our lease ran out
            deliveries = {
                d.id: d
                for d in session.scalars(
                    select(WebhookDelivery).where(
                        WebhookDelivery.id.in_([job.delivery_id for job, _ in results])
                    )
                )
            }
            for job, outcome in results:
                delivery = deliveries.get(job.delivery_id)
                if delivery is not None and delivery.status == "pending":
                    self._apply(session, delivery, job, outcome)
            if not release:
                hook.lane_until = now + self._settings.delivery_lease
                return
            hook.lane_owner = None
            unreachable = bool(results) and not results[-1][1].reached
            hook.lane_until = now + UNREACHABLE_PAUSE if unreachable else None

    @staticmethod
    def _apply(session: Session, delivery: WebhookDelivery, job: Job, outcome: Outcome) -> None:
        delivery.attempts += 1
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=outcome.attempted_at,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        if outcome.ok:
            delivery.status, delivery.next_attempt_at = "succeeded", None
            return
        # Each delay is measured from the failed attempt (R160).
        delay = delay_before_attempt(delivery.attempts + 1)
        if delay is None:
            delivery.status, delivery.next_attempt_at = "failed", None
            log.warning(
                "webhook %s: giving up on delivery %s after %s attempts",
                job.webhook_id,
                delivery.id,
                MAX_ATTEMPTS,
            )
        else:
            delivery.next_attempt_at = outcome.attempted_at + delay

    def _observe(self, job: Job, outcome: Outcome) -> None:
        if outcome.ok:
            self._metrics.webhook_deliveries.labels("succeeded").inc()
            lag = (outcome.attempted_at - job.created_at).total_seconds()
            self._metrics.webhook_lag.observe(max(0.0, lag))
        else:
            label = "http_error" if outcome.reached else "unreachable"
            self._metrics.webhook_deliveries.labels(label).inc()

    async def _lane(self, client: httpx.AsyncClient, webhook_id: str, jobs: list[Job]) -> None:
        pending: list[tuple[Job, Outcome]] = []
        try:
            for job in jobs:
                if not await asyncio.to_thread(self._still_ours, webhook_id):
                    pending = []
                    return  # the webhook was deleted, or another process took over
                outcome = await self.send(client, job)
                self._observe(job, outcome)
                pending.append((job, outcome))
                if not outcome.reached:
                    return  # the receiver is unreachable: rest, let the others go first
                slow = outcome.duration_ms > SLOW_SECONDS * 1000
                if not outcome.ok or slow or len(pending) >= RECORD_BATCH:
                    await asyncio.to_thread(self.record, webhook_id, pending)
                    pending = []
        finally:
            try:
                await asyncio.to_thread(self.record, webhook_id, pending, True)
            except Exception:
                log.exception("recording deliveries of webhook %s failed", webhook_id)

    def _start_lane(self, client: httpx.AsyncClient, webhook_id: str, jobs: list[Job]) -> None:
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
