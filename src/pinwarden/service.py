"""Wiring: one object that owns the database, clock, drivers, worker and HTTP app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from pinwarden.api.app import create_app
from pinwarden.api.auth import ApiKeyVerifier, issue_api_key
from pinwarden.api.bruteforce import AuthFailureGuard
from pinwarden.api.context import Services
from pinwarden.api.ops import Operations
from pinwarden.api.ratelimit import RateLimiter
from pinwarden.background import Signal, pause_until, run_in_thread, run_loop
from pinwarden.clock import Clock, SystemClock
from pinwarden.config import Settings
from pinwarden.engine.device_events import DeviceEvents
from pinwarden.engine.discovery import Discovery
from pinwarden.engine.reconciler import Reconciler
from pinwarden.engine.worker import Worker
from pinwarden.health import Readiness
from pinwarden.integrations import Integrations
from pinwarden.metrics import Metrics
from pinwarden.store import migrate, sealed
from pinwarden.store.db import Database
from pinwarden.store.notify import DatagramWakes, WakeListener, notify_on_commit
from pinwarden.store.sealing_keys import check_keys
from pinwarden.store.tables import ConnectedAccount, Workspace
from pinwarden.store.workspaces import create_workspace
from pinwarden.webhooks.deliverer import Deliverer


class Service:
    """A pinwarden process: the API, the background loops, or both."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.keys = sealed.use(sealed.key_source(settings))
        self.db = Database(settings.database_url)
        self.metrics = Metrics()
        self.metrics.watch_devices(self.db, self.clock, settings.reconcile_timeout)
        self.integrations = Integrations(self.db, self.clock, settings)
        drivers = self.integrations.drivers
        self.reconciler = Reconciler(self.db, self.clock, drivers, settings, self.metrics)
        self.worker = Worker(self.db, self.clock, self.reconciler, settings, self.metrics)
        self.deliverer = Deliverer(self.db, self.clock, settings, self.metrics)
        self.readiness = Readiness(self.db, settings, self.worker if settings.run_worker else None)
        self.discovery = Discovery(self.db, self.clock, drivers, self.worker.wake)
        self.device_events = DeviceEvents(self.db, drivers, self.worker.wake)
        # Discovery's loop: a move of a fake clock may make the next round due.
        self.devices_idle = Signal()
        self.clock.subscribe(self.devices_idle.wake)
        # Writes wake the loops of every process on the database: on PostgreSQL through
        # NOTIFY, on SQLite through datagrams (several API processes, `pinwarden serve
        # --processes`, or a CLI command beside a running server).
        self.listener: WakeListener | None = None
        self.datagrams: DatagramWakes | None = None
        if self.db.is_sqlite:
            self.datagrams = DatagramWakes(self.db.url)
            self.datagrams.install(self.db)
        else:
            notify_on_commit(self.db)
            self.listener = WakeListener(
                self.db.url,
                {
                    "worker": self.worker.wake,
                    "deliverer": self.deliverer.wake,
                    "reports": self.integrations.sandbox.lock_reported,
                    "listeners": self.integrations.zwave_js.listener_released,
                },
            )
        self.services = Services(
            self.db,
            self.clock,
            settings,
            self._wake_worker,
            ApiKeyVerifier(self.db, self.clock),
            RateLimiter.from_settings(self.clock, settings),
            auth_guard=AuthFailureGuard(self.clock, settings.auth_failure_limit),
        )
        ops = Operations(self.readiness.check, self.metrics if settings.metrics else None)
        self.app: FastAPI = create_app(
            self.services, self._lifespan, extra_endpoints=self.integrations.endpoints, ops=ops
        )

    def _wake_worker(self) -> None:
        """After an API write: wake the worker, here or in the process that runs it."""
        self.worker.wake()
        if self.datagrams is not None:
            self.datagrams.send("worker")

    def migrate(self) -> None:
        """Bring the schema to the newest version; Alembic loads only when it is not
        there already."""
        with self.db.rows() as connection:
            current = migrate.current_revisions(connection)
        if current != migrate.HEADS:
            migrate.upgrade(self.settings.database_url)
        check_keys(self.db, self.keys, self.clock.now())

    @contextmanager
    def background(self) -> Iterator[None]:
        """Run the engine (drivers, worker, discovery, device events) on one thread, the
        webhook deliverer on another, and on PostgreSQL the listener that wakes them on
        other processes' writes, until the block ends; then let each loop finish its
        transaction."""
        loops = []
        wake: dict[str, Callable[[], None]] = {}
        if self.settings.run_engine:
            loops.append(run_in_thread("pinwarden-engine", self.run_engine))
            wake["worker"] = self.worker.wake
            wake["reports"] = self.integrations.sandbox.lock_reported
        if self.settings.deliver_webhooks:
            loops.append(run_in_thread("pinwarden-deliverer", self.deliverer.run))
            wake["deliverer"] = self.deliverer.wake
        if self.listener is not None:
            loops.append(run_in_thread("pinwarden-listener", self.listener.run))
        elif self.datagrams is not None and wake:
            datagrams = self.datagrams.listen(wake)
            if datagrams is not None:
                loops.append(run_in_thread("pinwarden-listener", datagrams.run))
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

    async def run_engine(self, stop: asyncio.Event) -> None:
        """The engine on one event loop, so drivers are only ever called from the loop
        they were started on: start the drivers, run the reconcile worker, discover every
        account now and every ``discovery_interval``, record what locks report, and close
        the drivers at ``stop`` once the worker has stopped."""
        await self.integrations.start()
        events = asyncio.create_task(self.device_events.run(stop))
        worker = asyncio.create_task(self.worker.run(stop))
        next_due = self.clock.now()

        async def discover() -> float | None:
            nonlocal next_due
            if self.clock.now() >= next_due:
                await self.discovery.run_once()
                next_due = self.clock.now() + self.settings.discovery_interval
            return pause_until(self.clock, next_due, self.settings.idle_poll)

        try:
            await run_loop(self.devices_idle, stop, discover, name="discovery")
        finally:
            await worker
            await self.integrations.aclose()
            await events

    def connect_account(self, driver: str, workspace_id: str | None, config: dict[str, Any]) -> str:
        """A new connected account of ``driver`` in the workspace (the only one, when
        None); returns its id. Raises :class:`LookupError` for an unknown driver or
        workspace."""
        if driver not in self.integrations.drivers:
            known = ", ".join(sorted(self.integrations.drivers))
            raise LookupError(f"No driver {driver!r} (known: {known})")
        with self.db.write() as session:
            if workspace_id is None:
                ids = session.scalars(select(Workspace.workspace_id).limit(2)).all()
                if len(ids) != 1:
                    raise LookupError("Name the workspace with --workspace")
                workspace_id = ids[0]
            elif session.get(Workspace, workspace_id) is None:
                raise LookupError(f"No workspace {workspace_id}")
            account = ConnectedAccount(
                connected_account_id=str(uuid.uuid4()),
                workspace_id=workspace_id,
                provider=driver,
                driver=driver,
                config=config,
                discovery_seq=0,
                created_at=self.clock.now(),
            )
            session.add(account)
            return account.connected_account_id

    async def discover_once(self, account_id: str) -> int:
        """Start the drivers, discover one account, close them; returns how many devices
        were added. Raises :class:`DeviceUnavailable` when the account cannot be asked."""
        await self.integrations.start()
        try:
            return await self.discovery.discover_account(account_id)
        finally:
            await self.integrations.aclose()

    def disconnect_account(self, account_id: str) -> None:
        """Forget an account that was never reached (``connect`` undoing itself)."""
        with self.db.write() as session:
            account = session.get(ConnectedAccount, account_id)
            if account is not None:
                session.delete(account)

    def create_workspace(self, name: str, sandbox: bool) -> tuple[str, str]:
        """A new workspace and its first API key: ``(workspace_id, api_key)``; a sandbox
        one comes with its simulated locks."""
        now: datetime = self.clock.now()
        with self.db.write() as session:
            workspace = create_workspace(session, name, sandbox, now)
            if sandbox:
                self.integrations.seed_sandbox(session, workspace, now)
            key = issue_api_key(session, workspace, now)
            workspace_id = workspace.workspace_id
        return workspace_id, key
