"""Wake-ups across processes: NOTIFY in the writing transaction, a listener that wakes the
loops it names, and reconnects after losing its connection (PostgreSQL only)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from pinwarden.background import run_in_thread
from pinwarden.store.db import Database
from pinwarden.store.events import DELIVERIES_QUEUED
from pinwarden.store.notify import CHANNEL, WakeListener, devices_due, notify_on_commit
from tests.conftest import PG_URL
from tests.processes import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Loops:
    """Stand-ins for a process's worker and deliverer: which ones were woken."""

    def __init__(self) -> None:
        self.worker = threading.Event()
        self.deliverer = threading.Event()

    def wake(self) -> dict[str, object]:
        return {"worker": self.worker.set, "deliverer": self.deliverer.set}

    def clear(self) -> None:
        self.worker.clear()
        self.deliverer.clear()


@pytest.fixture
def listening(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[Database, Loops]]:
    """A database whose writes notify, and a running listener on another connection."""
    caplog.set_level(logging.INFO, logger="pinwarden.store.notify")
    db = Database(database_url)
    notify_on_commit(db)
    loops = Loops()
    listener = WakeListener(db.url, loops.wake())  # type: ignore[arg-type]
    thread, stop = run_in_thread("test-listener", listener.run)
    # Once listening, it wakes every loop: notifications sent before were lost to it.
    wait_until(lambda: loops.worker.is_set() and loops.deliverer.is_set(), 10)
    loops.clear()
    try:
        yield db, loops
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()
        db.dispose()


def test_a_committed_write_wakes_the_loops_it_names(listening: tuple[Database, Loops]) -> None:
    db, loops = listening
    with db.write() as session:
        devices_due(session)
    assert loops.worker.wait(10)
    # Both would have come in the same notification.
    assert not loops.deliverer.is_set()
    loops.clear()
    with db.write() as session:
        session.info[DELIVERIES_QUEUED] = True
    assert loops.deliverer.wait(10)
    assert not loops.worker.is_set()


def test_a_rolled_back_write_and_a_write_with_nothing_due_wake_nobody(
    listening: tuple[Database, Loops],
) -> None:
    db, loops = listening
    with pytest.raises(RuntimeError), db.write() as session:
        devices_due(session)
        raise RuntimeError("rolled back")
    with db.write() as session:
        session.execute(text("select 1"))
    with db.write() as session:
        session.info[DELIVERIES_QUEUED] = True
    # Notifications arrive in commit order: had either earlier write sent one, the worker
    # would have been woken before the deliverer.
    assert loops.deliverer.wait(10)
    assert not loops.worker.is_set()


def test_an_empty_payload_wakes_every_loop(listening: tuple[Database, Loops]) -> None:
    db, loops = listening
    with db.write() as session:
        session.execute(text(f"select pg_notify({CHANNEL}, '')"))
    assert loops.worker.wait(10) and loops.deliverer.wait(10)


def test_a_write_in_another_schema_wakes_nobody_here(listening: tuple[Database, Loops]) -> None:
    db, loops = listening
    other = Database(PG_URL)  # the public schema: another deployment on the same database
    notify_on_commit(other)
    try:
        with other.write() as session:
            devices_due(session)
    finally:
        other.dispose()
    with db.write() as session:
        session.info[DELIVERIES_QUEUED] = True
    # Notifications arrive in commit order: had the other schema's reached this listener,
    # its worker would have been woken before the deliverer.
    assert loops.deliverer.wait(10)
    assert not loops.worker.is_set()


def test_the_listener_reconnects_when_its_connection_is_killed(
    listening: tuple[Database, Loops], caplog: pytest.LogCaptureFixture
) -> None:
    db, loops = listening
    # This listener's backend, as its log names it (other test runs may listen too).
    (pid,) = [
        int(m.group(1))
        for r in caplog.get_records("setup")
        if (m := re.search(r"backend pid (\d+)", r.getMessage()))
    ]
    with db.write() as session:
        assert session.scalar(text("select pg_terminate_backend(:pid)"), {"pid": pid})
    # Reconnected, it wakes every loop once more; then notifications work again.
    wait_until(lambda: loops.worker.is_set() and loops.deliverer.is_set(), 10)
    assert any("reconnecting" in r.getMessage() for r in caplog.records)
    loops.clear()
    with db.write() as session:
        devices_due(session)
    assert loops.worker.wait(10)
