"""Delivering the outbox: signed POSTs with retries, one lane per webhook.

Deliveries are rows written in the same transaction as their event. The deliverer claims
due rows with a lease (``SKIP LOCKED`` on PostgreSQL), sends each webhook's deliveries in
order on that webhook's own lane, so one slow receiver delays nobody else, records every
attempt, and schedules retries per R160. A crash loses nothing: an unfinished delivery is
claimed again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import case, delete, func, select

from pinwarden import __version__
from pinwarden.background import Signal
from pinwarden.clock import Clock, SystemClock
from pinwarden.config import Settings
from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED
from pinwarden.store.tables import Event, Webhook, WebhookAttempt, WebhookDelivery
from pinwarden.webhooks.schedule import delay_before_attempt
from pinwarden.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 5.0
MIN_PAUSE_SECONDS = 0.05
CLAIM_BATCH = 200
PRUNE_EVERY_SECONDS = 3600.0
RECORD_BATCH = 20


@dataclass(frozen=True)
class Job:
    """One claimed delivery, with everything needed to send it."""

    delivery_id: int
    webhook_id: str
    url: str
    secret: str
    message_id: str
    body: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


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
        wall_clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Receivers check svix-timestamp against their own clock, so it is always real time.
        self._wall_clock = wall_clock or SystemClock()
        self._settings = settings
        self._transport = transport
        self.signal = Signal()
        self._busy: set[str] = set()
        self._lanes: set[asyncio.Task[None]] = set()
        self._last_prune = 0.0
        clock.subscribe(self.wake)
        db.on_commit(lambda info: self.wake() if info.get(DELIVERIES_QUEUED) else None)

    def wake(self) -> None:
        """Look for due deliveries now."""
        self.signal.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until nothing is due and no lane is sending."""
        self.signal.wait_idle(timeout)

    def claim_due(self, max_webhooks: int) -> dict[str, list[Job]]:
        """Lease due deliveries of up to ``max_webhooks`` webhooks without a running lane."""
        now = self._clock.now()
        with self._db.write() as session:
            stmt = (
                select(WebhookDelivery, Webhook, Event)
                .join(Webhook, Webhook.webhook_id == WebhookDelivery.webhook_id)
                .join(Event, Event.seq == WebhookDelivery.event_seq)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < now),
                )
                .order_by(WebhookDelivery.id)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
            if self._busy:
                stmt = stmt.where(WebhookDelivery.webhook_id.not_in(self._busy))
            groups: dict[str, list[Job]] = defaultdict(list)
            for delivery, webhook, event in session.execute(stmt).all():
                if webhook.webhook_id not in groups and len(groups) >= max_webhooks:
                    continue
                delivery.lease_until = now + self._settings.delivery_lease
                groups[webhook.webhook_id].append(
                    Job(
                        delivery.id,
                        webhook.webhook_id,
                        webhook.url,
                        webhook.secret,
                        f"msg_{event.event_id}",
                        event_body(event.payload),
                    )
                )
        return dict(groups)

    async def send(self, client: httpx.AsyncClient, job: Job) -> Outcome:
        """One signed POST; never raises."""
        headers = signed_headers(job.secret, job.message_id, self._wall_clock.now(), job.body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = f"pinwarden-webhooks/{__version__}"
        started = time.perf_counter()
        try:
            response = await client.post(job.url, content=job.body.encode(), headers=headers)
            status, error = response.status_code, None
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(status, error, int((time.perf_counter() - started) * 1000))

    def record(self, results: list[tuple[Job, Outcome]]) -> None:
        """Log attempts and decide what happens next to each delivery, in one transaction."""
        now = self._clock.now()
        with self._db.write() as session:
            for job, outcome in results:
                delivery = session.get(WebhookDelivery, job.delivery_id)
                if delivery is None:  # the webhook was deleted meanwhile
                    continue
                delivery.attempts += 1
                delivery.lease_until = None
                session.add(
                    WebhookAttempt(
                        delivery_id=delivery.id,
                        attempted_at=now,
                        status_code=outcome.status_code,
                        error=outcome.error,
                        duration_ms=outcome.duration_ms,
                    )
                )
                if outcome.ok:
                    delivery.status, delivery.next_attempt_at = "succeeded", None
                    continue
                delay = delay_before_attempt(delivery.attempts + 1)
                if delay is None:
                    delivery.status, delivery.next_attempt_at = "failed", None
                    log.warning(
                        "webhook %s: giving up on delivery %s after %s attempts",
                        job.webhook_id,
                        delivery.id,
                        delivery.attempts,
                    )
                else:
                    delivery.next_attempt_at = now + delay

    async def _lane(self, client: httpx.AsyncClient, jobs: list[Job]) -> None:
        # Outcomes are written in small groups: one transaction per delivery would make
        # the database, not the receiver, the limit on a busy webhook.
        pending: list[tuple[Job, Outcome]] = []
        for index, job in enumerate(jobs):
            pending.append((job, await self.send(client, job)))
            if len(pending) >= RECORD_BATCH or index == len(jobs) - 1:
                try:
                    await asyncio.to_thread(self.record, pending)
                except Exception:
                    log.exception("recording %s deliveries failed", len(pending))
                pending = []

    def _start_lane(self, client: httpx.AsyncClient, webhook_id: str, jobs: list[Job]) -> None:
        self._busy.add(webhook_id)
        task = asyncio.create_task(self._lane(client, jobs))
        self._lanes.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._lanes.discard(done)
            self._busy.discard(webhook_id)
            self.wake()

        task.add_done_callback(finished)

    def _seconds_to_next_due(self) -> float:
        with self._db.read() as session:
            # A leased delivery is not due before its lease runs out.
            due_at = case(
                (
                    WebhookDelivery.lease_until > WebhookDelivery.next_attempt_at,
                    WebhookDelivery.lease_until,
                ),
                else_=WebhookDelivery.next_attempt_at,
            )
            stmt = select(func.min(due_at)).where(WebhookDelivery.status == "pending")
            if self._busy:
                stmt = stmt.where(WebhookDelivery.webhook_id.not_in(self._busy))
            next_due: datetime | None = session.scalar(stmt)
        if next_due is None:
            return IDLE_POLL_SECONDS
        wait = self._clock.real_seconds_until(next_due)
        return IDLE_POLL_SECONDS if wait is None else min(wait, IDLE_POLL_SECONDS)

    def prune_events(self) -> int:
        """Drop events (and their deliveries) older than the retention period."""
        cutoff = self._clock.now() - self._settings.event_retention
        with self._db.write() as session:
            result = session.execute(delete(Event).where(Event.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set."""
        wake_event = self.signal.attach()
        limits = httpx.Limits(max_connections=self._settings.webhook_lanes)
        timeout = self._settings.webhook_timeout.total_seconds()
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, limits=limits, transport=self._transport
        ) as client:
            while not stop.is_set():
                seen = self.signal.requests()
                wake_event.clear()
                pause = IDLE_POLL_SECONDS
                groups: dict[str, list[Job]] = {}
                try:
                    if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
                        self._last_prune = time.monotonic()
                        self.prune_events()
                    room = self._settings.webhook_lanes - len(self._lanes)
                    groups = self.claim_due(room) if room > 0 else {}
                    for webhook_id, jobs in groups.items():
                        self._start_lane(client, webhook_id, jobs)
                    if not groups:
                        pause = self._seconds_to_next_due()
                except Exception:
                    log.exception("delivery pass failed")
                    pause = 1.0
                if groups:
                    continue
                if not self._lanes:
                    self.signal.mark_idle_if_unchanged(seen)
                await self.signal.sleep(wake_event, stop, max(pause, MIN_PAUSE_SECONDS))
            for task in list(self._lanes):
                task.cancel()
