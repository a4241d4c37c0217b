"""Several processes on one PostgreSQL database: ``pinwarden serve --no-worker`` answers the
API, ``pinwarden worker`` reconciles and delivers, and NOTIFY carries wake-ups between them.

Real processes on the real clock. The worker's idle poll is set to ten minutes, so only a
notification can make it act on the API process's writes within the generous bounds below.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from seam import Seam
from sqlalchemy import func, or_, select

from pinwarden.service import Service
from pinwarden.store.db import Database
from pinwarden.store.tables import Device
from tests.conftest import make_settings
from tests.processes import free_port, sandbox_key, serve, wait_answering, wait_until, worker
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _quiet(db: Database) -> bool:
    """No device is leased or due within the next minute: the worker sleeps."""
    soon = datetime.now(UTC) + timedelta(minutes=1)
    with db.read() as session:
        busy = session.scalar(
            select(func.count())
            .select_from(Device)
            .where(or_(Device.lease_owner.is_not(None), Device.next_reconcile_at <= soon))
        )
    return busy == 0


def test_an_api_process_and_a_worker_process_share_the_work(
    database_url: str, receiver: Receiver
) -> None:
    env = dict(os.environ)
    env.update(
        PINWARDEN_DATABASE_URL=database_url,
        PINWARDEN_SANDBOX_LATENCY_SECONDS="0.5",
        PINWARDEN_IDLE_POLL_SECONDS="600",
    )
    key = sandbox_key(env)
    db = Database(database_url)
    background = worker(env)
    port = free_port()
    api = serve(env, port, "--no-worker")
    try:
        wait_until(lambda: _quiet(db), 30)  # the seeded locks are read, nothing is due
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        )
        wait_answering(api, http, 30)
        seam = Seam(api_key=key, endpoint=f"http://127.0.0.1:{port}")
        seam.webhooks.create(url=receiver.url, event_types=["access_code.set_on_device"])
        lock = seam.devices.list(device_type="august_lock")[0].device_id
        code = seam.access_codes.create(device_id=lock, code="4821")
        # Set by the worker process, woken by the API process's notification.
        wait_until(
            lambda: seam.access_codes.get(access_code_id=code.access_code_id).status == "set", 15
        )
        # The worker's event reaches the receiver through the worker's deliverer.
        wait_until(lambda: receiver.bodies(), 15)
        assert json.loads(receiver.bodies()[0])["access_code_id"] == code.access_code_id
        background.send_signal(signal.SIGTERM)
        assert background.wait(timeout=30) == 0
        api.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert api.wait(timeout=30) == -signal.SIGTERM
    finally:
        for process in (background, api):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        db.dispose()


def _thread_names(service: Service) -> set[str]:
    """The pinwarden threads running while the service's HTTP app is up."""

    async def up() -> set[str]:
        async with service.app.router.lifespan_context(service.app):
            return {t.name for t in threading.enumerate() if t.name.startswith("pinwarden-")}

    return asyncio.run(up())


def test_serve_without_the_worker_runs_no_background_loop(database_url: str) -> None:
    settings = make_settings(database_url)
    assert _thread_names(Service(replace(settings, run_worker=False))) == set()
    assert _thread_names(Service(settings)) == {
        "pinwarden-engine",
        "pinwarden-deliverer",
        "pinwarden-listener",
    }
