"""Wake-ups across processes on PostgreSQL: ``NOTIFY pinwarden_wake`` and its listener.

A write that makes a device due, or queues webhook deliveries, wakes this process's
worker or deliverer directly. Other processes on the same database (``pinwarden worker``
beside ``pinwarden serve --no-worker`` replicas) hear of it through PostgreSQL's
LISTEN/NOTIFY: the write's transaction sends a notification naming the loops it concerns,
and every process that runs loops keeps a :class:`WakeListener` that wakes its own. Each
woken worker tries to claim; ``SKIP LOCKED`` decides which one does the work. Without a
notification (one sent while a listener was reconnecting) the idle poll still finds the
work. SQLite runs a single process and needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

import psycopg
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED
from pinwarden.store.tables import Device

log = logging.getLogger(__name__)

CHANNEL = "pinwarden_wake"

# Set in ``session.info`` when a transaction made a device due now.
DEVICES_DUE = "pinwarden.devices_due"

# Which loop each ``session.info`` flag concerns; a notification's payload names them.
_LOOPS = {DEVICES_DUE: "worker", DELIVERIES_QUEUED: "deliverer"}

RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 10.0


def devices_due(session: Session) -> None:
    """Note that this transaction makes a device due, so that its commit wakes workers."""
    session.info[DEVICES_DUE] = True


def request_reconcile(session: Session, device_id: str, now: datetime) -> None:
    """Make the device due now, tell a running reconcile to go round again, and wake
    the workers of every process when the transaction commits."""
    session.execute(
        update(Device)
        .where(Device.device_id == device_id)
        .values(next_reconcile_at=now, wake_seq=Device.wake_seq + 1)
    )
    devices_due(session)


def notify_on_commit(db: Database) -> None:
    """Make each write transaction on ``db`` that made a device due or queued deliveries
    notify :data:`CHANNEL` (PostgreSQL only)."""

    def notify(session: Session) -> None:
        loops = [name for flag, name in _LOOPS.items() if session.info.get(flag)]
        if loops:
            # Sent inside the transaction on purpose: PostgreSQL delivers a NOTIFY when,
            # and only if, its transaction commits. Listeners wake exactly when the write
            # is visible to them, a rollback wakes nobody, a process dying between commit
            # and notification cannot lose it, and no second connection is needed.
            session.execute(select(func.pg_notify(CHANNEL, " ".join(loops))))

    db.before_commit(notify)


class WakeListener:
    """LISTENs on :data:`CHANNEL` on a connection of its own and wakes this process's
    loops: those a notification names, or all of them for an empty payload."""

    def __init__(self, database_url: str, wake: Mapping[str, Callable[[], None]]) -> None:
        self._conninfo = make_url(database_url).set(drivername="postgresql")
        self._wake = dict(wake)

    def _wake_all(self) -> None:
        """Wake every loop (after (re)connecting: notifications sent meanwhile are lost)."""
        for wake in self._wake.values():
            wake()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; reconnect with growing back-off when the
        connection drops or cannot be made."""
        delay = RECONNECT_MIN_SECONDS
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo.render_as_string(hide_password=False),
                    autocommit=True,
                    application_name="pinwarden-listener",
                    # A peer that vanished without closing is noticed within about a
                    # minute instead of never: the listener only ever reads.
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    log.info("listening on %s, backend pid %d", CHANNEL, conn.info.backend_pid)
                    delay = RECONNECT_MIN_SECONDS
                    self._wake_all()
                    await self._dispatch_until(conn, stop)
            except psycopg.OperationalError as exc:
                log.warning(
                    "wake-up listener disconnected (%s); reconnecting in %.1f s", exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _dispatch_until(
        self, conn: psycopg.AsyncConnection[object], stop: asyncio.Event
    ) -> None:
        receiving = asyncio.ensure_future(self._dispatch(conn))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        receiving.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving  # re-raises the error that ended it, if any

    async def _dispatch(self, conn: psycopg.AsyncConnection[object]) -> None:
        async for note in conn.notifies():
            names = note.payload.split() or list(self._wake)
            for name in names:
                wake = self._wake.get(name)
                if wake is not None:
                    wake()
