"""Wake-ups across processes: ``NOTIFY pinwarden_wake`` on PostgreSQL, datagrams on SQLite.

A write that makes a device due, or queues webhook deliveries, wakes this process's
worker or deliverer directly. Other processes on the same database (``pinwarden worker``
beside ``pinwarden serve --no-worker`` replicas) hear of it through PostgreSQL's
LISTEN/NOTIFY: the write's transaction sends a notification naming the loops it concerns,
and every process that runs loops keeps a :class:`WakeListener` that wakes its own. Each
woken worker tries to claim; ``SKIP LOCKED`` decides which one does the work. Without a
notification (one sent while a listener was reconnecting) the idle poll still finds the
work. Notification channels belong to the whole database, not to a schema, so each schema
has its own (:data:`CHANNEL`): deployments that share a database in schemas of their own
do not wake each other.

On SQLite (``pinwarden serve --processes N``: API processes beside the one that runs the
loops) a :class:`DatagramWakes` does the same with Unix datagrams: the process that runs a
loop binds an abstract socket named after the database file and the loop, and every other
process on that file sends the loop's name there after a commit that concerns it. Sent
after the commit, so the woken loop sees the write; a datagram nobody receives (no such
loop running, its buffer full of wake-ups already) is dropped, and the idle poll covers
it as it does a lost notification. Abstract sockets are Linux's; elsewhere only the
idle poll carries work between processes on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED
from pinwarden.store.tables import Device

# psycopg loads with the first PostgreSQL listener: SQLite processes never need it.
if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# The channel of the schema a connection works in, as SQL both sides evaluate on the
# server: ``pinwarden_wake`` in ``public``, else suffixed with a hash of the schema's name
# (a channel name must fit in 63 bytes; a schema's name alone may take them all; sha256,
# not md5, which FIPS builds of PostgreSQL refuse).
CHANNEL = (
    "CASE current_schema() WHEN 'public' THEN 'pinwarden_wake' "
    "ELSE 'pinwarden_wake_' "
    "|| left(encode(sha256(convert_to(current_schema(), 'UTF8')), 'hex'), 16) END"
)

# Set in ``session.info`` when a transaction made a device due now.
DEVICES_DUE = "pinwarden.devices_due"

# Set in ``session.info`` when a transaction wrote a simulated lock's report, which the
# engine's sandbox driver hands out as a device event.
LOCK_REPORTED = "pinwarden.lock_reported"

# Set in ``session.info`` when a transaction gave up a Z-Wave JS listener lease, which
# another process's driver should take over now (devices/zwave_js/listener.py).
LISTENER_RELEASED = "pinwarden.listener_released"

# Which loop each ``session.info`` flag concerns; a notification's payload names them.
_LOOPS = {
    DEVICES_DUE: "worker",
    DELIVERIES_QUEUED: "deliverer",
    LOCK_REPORTED: "reports",
    LISTENER_RELEASED: "listeners",
}

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
    notify its schema's :data:`CHANNEL` (PostgreSQL only)."""

    def notify(session: Session) -> None:
        loops = [name for flag, name in _LOOPS.items() if session.info.get(flag)]
        if loops:
            # Sent inside the transaction on purpose: PostgreSQL delivers a NOTIFY when,
            # and only if, its transaction commits. Listeners wake exactly when the write
            # is visible to them, a rollback wakes nobody, a process dying between commit
            # and notification cannot lose it, and no second connection is needed.
            session.execute(select(func.pg_notify(literal_column(CHANNEL), " ".join(loops))))

    db.before_commit(notify)


class WakeListener:
    """LISTENs on its schema's :data:`CHANNEL` on a connection of its own and wakes this process's
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
        import psycopg

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
                    channel = await _listen(conn)
                    log.info("listening on %s, backend pid %d", channel, conn.info.backend_pid)
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


async def _listen(conn: psycopg.AsyncConnection[object]) -> str:
    """LISTEN on the channel of the connection's schema; returns the channel's name."""
    from psycopg import sql
    from psycopg.rows import scalar_row

    async with conn.cursor(row_factory=scalar_row) as cursor:
        await cursor.execute(f"SELECT {CHANNEL}")
        channel = str(await cursor.fetchone())
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return channel


def _abstract_address(database_url: str, loop: str) -> str | None:
    """The abstract socket name of ``loop`` on the SQLite file of ``database_url``; None
    for an in-memory database (one process only) or where abstract sockets do not exist."""
    path = make_url(database_url).database
    if not sys.platform.startswith("linux") or not path or path == ":memory:":
        return None
    digest = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:24]
    return f"\0pinwarden-wake-{digest}-{loop}"


_SENDER: socket.socket | None = None
_SENDER_LOCK = threading.Lock()


def _sender() -> socket.socket:
    """This process's one unbound socket that sends every wake-up datagram (sendto on a
    datagram socket is thread-safe)."""
    global _SENDER
    if _SENDER is None:
        with _SENDER_LOCK:
            if _SENDER is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                _SENDER = sock
    return _SENDER


class DatagramWakes:
    """Cross-process wake-ups on one SQLite file (see the module docstring).

    ``local`` are the loops this process runs itself, whose wake-ups stay in-process;
    :meth:`send` reaches the others, :meth:`listen` receives for the local ones.
    """

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._local: frozenset[str] = frozenset()
        self._addresses = {
            loop: address
            for loop in _LOOPS.values()
            if (address := _abstract_address(database_url, loop)) is not None
        }

    def install(self, db: Database) -> None:
        """Send a wake-up after each commit on ``db`` that made a device due or queued
        deliveries, to the loops named by it that run elsewhere."""

        def committed(info: dict[str, object]) -> None:
            for flag, loop in _LOOPS.items():
                if info.get(flag):
                    self.send(loop)

        db.on_commit(committed)

    def send(self, loop: str) -> None:
        """Wake ``loop`` in whichever process runs it, unless it runs in this one."""
        address = self._addresses.get(loop)
        if address is None or loop in self._local:
            return
        # Nobody listening (ConnectionRefused, FileNotFound) or a full buffer (BlockingIO):
        # either way there is nobody to wake now, and the idle poll is the backstop.
        with contextlib.suppress(OSError):
            _sender().sendto(loop.encode(), address)

    def listen(self, wake: Mapping[str, Callable[[], None]]) -> DatagramListener | None:
        """Receive this process's loops' wake-ups (``wake`` maps a loop to its wake);
        from now on those loops count as local and are no longer sent to. None where
        there is no channel."""
        self._local = frozenset(wake)
        sockets: dict[str, socket.socket] = {}
        for loop in wake:
            address = self._addresses.get(loop)
            if address is None:
                continue
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(address)
            except OSError as exc:
                # Another process runs this loop on the same file: both stay correct,
                # this one finds other processes' work by its idle poll.
                log.warning("%s wake-ups go to another process (%s)", loop, exc)
                sock.close()
                continue
            sock.setblocking(False)
            sockets[loop] = sock
        return DatagramListener(sockets, wake) if sockets else None


class DatagramListener:
    """Wakes this process's loops on the datagrams :class:`DatagramWakes` sends."""

    def __init__(
        self, sockets: Mapping[str, socket.socket], wake: Mapping[str, Callable[[], None]]
    ) -> None:
        self._sockets = dict(sockets)
        self._wake = dict(wake)

    @property
    def loops(self) -> Collection[str]:
        """The loops this listener receives for."""
        return self._sockets.keys()

    async def run(self, stop: asyncio.Event) -> None:
        """Wake the loops as their datagrams arrive, until ``stop``; then close."""
        loop = asyncio.get_running_loop()
        for name, sock in self._sockets.items():
            loop.add_reader(sock.fileno(), self._drain, name, sock)
        try:
            # Any wake-up sent before the sockets were bound is lost: look once now.
            for name in self._sockets:
                self._wake[name]()
            await stop.wait()
        finally:
            for sock in self._sockets.values():
                loop.remove_reader(sock.fileno())
                sock.close()

    def _drain(self, name: str, sock: socket.socket) -> None:
        # Many commits may have queued datagrams; one wake covers them all.
        with contextlib.suppress(BlockingIOError):
            while sock.recv(64):
                pass
        self._wake[name]()
