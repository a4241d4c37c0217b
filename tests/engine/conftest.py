"""Engine tests: the real service and database, no HTTP, no worker thread, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pinwarden.api.context import RequestContext
from pinwarden.api.routes import access_codes
from pinwarden.clock import FakeClock
from pinwarden.service import Service
from pinwarden.store.tables import AccessCode, Device, Event
from tests.conftest import START, make_settings


@dataclass
class Engine:
    service: Service
    clock: FakeClock
    ctx: RequestContext

    def drain(self) -> int:
        """Run worker passes until nothing is due; returns how many reconciles ran."""
        total = 0
        while handled := asyncio.run(self.service.worker.run_once()):
            total += handled
        return total

    def advance(self, delta: timedelta) -> int:
        self.clock.advance(delta)
        return self.drain()

    def device(self, device_type: str) -> Device:
        with self.service.db.read() as s:
            rows = s.scalars(
                select(Device).where(Device.workspace_id == self.ctx.workspace_id)
            ).all()
        from pinwarden.devices.models import LOCK_MODELS

        return next(d for d in rows if LOCK_MODELS[d.model_key].device_type == device_type)

    def create(self, device_id: str, **params: Any) -> dict[str, Any]:
        view: dict[str, Any] = access_codes.create(
            self.ctx, access_codes.CreateParams(device_id=device_id, **params)
        )["access_code"]
        return view

    def update(self, access_code_id: str, **params: Any) -> None:
        access_codes.update(
            self.ctx, access_codes.UpdateParams(access_code_id=access_code_id, **params)
        )

    def delete(self, access_code_id: str) -> None:
        access_codes.delete(self.ctx, access_codes.DeleteParams(access_code_id=access_code_id))

    def code(self, access_code_id: str) -> AccessCode | None:
        with self.service.db.read() as s:
            return s.get(AccessCode, access_code_id)

    def lock_pins(self, device_id: str) -> list[str]:
        report = asyncio.run(
            self.service.reconciler.drivers["simulated"].read_slots(self._ref(device_id))
        )
        return sorted(r.code or "" for r in report)

    def _ref(self, device_id: str) -> Any:
        from pinwarden.devices.driver import DeviceRef

        with self.service.db.read() as s:
            d = s.get(Device, device_id)
            assert d is not None
            return DeviceRef(d.device_id, d.model_key, d.time_zone)

    def events(self, access_code_id: str | None = None) -> list[str]:
        with self.service.db.read() as s:
            stmt = select(Event.event_type).order_by(Event.seq)
            if access_code_id:
                stmt = stmt.where(Event.access_code_id == access_code_id)
            return list(s.scalars(stmt).all())

    def set_online(self, device_id: str, online: bool) -> None:
        with self.service.db.write() as s:
            d = s.get(Device, device_id)
            assert d is not None
            d.online = online
            d.next_reconcile_at = self.clock.now()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    clock = FakeClock(START)
    # The engine is driven far faster than Seam's per-device limits allow (28 codes on one
    # lock at once); those limits are the API's concern, tested in tests/api.
    settings = replace(
        make_settings(database_url),
        run_worker=False,
        rate_limit_creates=0,
        rate_limit_updates=0,
        rate_limit_deletes=0,
    )
    service = Service(settings, clock)
    workspace_id, _key = service.create_workspace("Engine", sandbox=True)
    ctx = RequestContext(service.services, workspace_id, True, "http://test/")
    eng = Engine(service, clock, ctx)
    eng.drain()
    yield eng
    service.db.dispose()
