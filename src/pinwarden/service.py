"""Wiring: one object that owns the database, clock, drivers, worker and HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from datetime import datetime

from fastapi import FastAPI

from pinwarden.api.app import create_app
from pinwarden.api.auth import ApiKeyVerifier, issue_api_key
from pinwarden.api.context import Services
from pinwarden.api.ratelimit import RateLimiter
from pinwarden.background import run_in_thread
from pinwarden.clock import Clock, SystemClock
from pinwarden.config import Settings
from pinwarden.devices.driver import Driver
from pinwarden.devices.simulated import SimulatedDriver
from pinwarden.engine.reconciler import Reconciler
from pinwarden.engine.worker import Worker
from pinwarden.store import migrate
from pinwarden.store.db import Database
from pinwarden.store.notify import WakeListener, notify_on_commit
from pinwarden.store.workspaces import create_workspace
from pinwarden.webhooks.deliverer import Deliverer


class Service:
    """A pinwarden process: the API, the background loops, or both."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        drivers: dict[str, Driver] = {
            "simulated": SimulatedDriver(self.db, self.clock, settings.sandbox_latency)
        }
        self.reconciler = Reconciler(self.db, self.clock, drivers, settings)
        self.worker = Worker(self.db, self.clock, self.reconciler, settings)
        self.deliverer = Deliverer(self.db, self.clock, settings)
        # One process on SQLite; on PostgreSQL writes wake the loops of every process.
        self.listener: WakeListener | None = None
        if not self.db.is_sqlite:
            notify_on_commit(self.db)
            self.listener = WakeListener(
                self.db.url, {"worker": self.worker.wake, "deliverer": self.deliverer.wake}
            )
        self.services = Services(
            self.db,
            self.clock,
            settings,
            self.worker.wake,
            ApiKeyVerifier(self.db),
            RateLimiter.from_settings(self.clock, settings),
        )
        self.app: FastAPI = create_app(self.services, self._lifespan)

    def migrate(self) -> None:
        """Bring the schema to the newest version."""
        migrate.upgrade(self.settings.database_url)

    @contextmanager
    def background(self) -> Iterator[None]:
        """Run the reconcile worker and the webhook deliverer, each on its own thread, and
        on PostgreSQL the listener that wakes them on other processes' writes, until the
        block ends; then let each loop finish its transaction."""
        loops = [
            run_in_thread("pinwarden-worker", self.worker.run),
            run_in_thread("pinwarden-deliverer", self.deliverer.run),
        ]
        if self.listener is not None:
            loops.append(run_in_thread("pinwarden-listener", self.listener.run))
        try:
            yield
        finally:
            for _thread, stop in loops:
                stop.set()
            for thread, _stop in loops:
                thread.join(timeout=30)

    @asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        try:
            with self.background() if self.settings.run_worker else nullcontext():
                yield
        finally:
            self.db.dispose()

    def create_workspace(self, name: str, sandbox: bool) -> tuple[str, str]:
        """A new workspace and its first API key: ``(workspace_id, api_key)``."""
        now: datetime = self.clock.now()
        with self.db.write() as session:
            workspace = create_workspace(session, name, sandbox, now)
            key = issue_api_key(session, workspace, now)
            workspace_id = workspace.workspace_id
        return workspace_id, key
