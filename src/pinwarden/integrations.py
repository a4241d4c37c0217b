"""The one place that knows every integration: drivers by name, and the sandbox's routes
and workspace seeding. Nothing else imports :mod:`pinwarden.sandbox`."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from pinwarden.api.wire import Endpoint
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.devices.driver import Driver
from pinwarden.devices.zwave_js.driver import DRIVER_NAME as ZWAVE_JS
from pinwarden.devices.zwave_js.driver import ZWaveJSDriver
from pinwarden.sandbox.driver import DRIVER_NAME, SandboxDriver
from pinwarden.sandbox.routes import SandboxRoutes
from pinwarden.sandbox.seed import seed_sandbox
from pinwarden.store.db import Database
from pinwarden.store.tables import Workspace

log = logging.getLogger(__name__)


class Integrations:
    """Every driver of one process, started and closed together."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.sandbox = SandboxDriver(db, clock, settings.sandbox_latency)
        self.zwave_js = ZWaveJSDriver(db, clock)
        self.drivers: dict[str, Driver] = {DRIVER_NAME: self.sandbox, ZWAVE_JS: self.zwave_js}
        self.endpoints: list[Endpoint] = SandboxRoutes(self.sandbox).endpoints()

    @staticmethod
    def seed_sandbox(session: Session, workspace: Workspace, now: datetime) -> None:
        """Give a new sandbox workspace its simulated locks."""
        seed_sandbox(session, workspace, now)

    async def start(self) -> None:
        """Start every driver."""
        for driver in self.drivers.values():
            await driver.start()

    async def aclose(self) -> None:
        """Close every driver; one failing to close does not keep the others open."""
        for name, driver in self.drivers.items():
            try:
                await driver.aclose()
            except Exception:
                log.exception("closing driver %s failed", name)
