"""Engine tests: the real service and database, no HTTP, no worker thread, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pinwarden.api.context import RequestContext
from pinwarden.api.routes import access_codes
from pinwarden.clock import FakeClock
from pinwarden.devices.driver import DeviceRef
from pinwarden.service import Service
from pinwarden.store.tables import AccessCode, Device, Event
from pinwarden.timeutil import as_utc
from tests.conftest import START, make_settings
from tests.sandbox import device_ref, set_online


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

    def run_for(self, span: timedelta) -> int:
        """Move the clock through ``span``, stopping at each moment a device is due, as
        an idle worker wakes; returns how many reconciles ran."""
        end = self.clock.now() + span
        total = 0
        while True:
            with self.service.db.read() as s:
                due = s.scalar(
                    select(func.min(Device.next_reconcile_at)).where(
                        Device.next_reconcile_at > self.clock.now()
                    )
                )
            step_to = end if due is None else min(as_utc(due), end)
            total += self.advance(step_to - self.clock.now())
            if step_to == end:
                return total

    def device(self, device_type: str) -> Device:
        with self.service.db.read() as s:
            rows = s.scalars(
                select(Device).where(Device.workspace_id == self.ctx.workspace_id)
            ).all()
        return next(d for d in rows if d.caps.device_type == device_type)

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
            self.service.integrations.sandbox.read_slots(self._ref(device_id), fresh=True)
        )
        return sorted(r.code or "" for r in report)

    def _ref(self, device_id: str) -> DeviceRef:
        return device_ref(self.service.db, device_id)

    def events(self, access_code_id: str | None = None) -> list[str]:
        with self.service.db.read() as s:
            stmt = select(Event.event_type).order_by(Event.seq)
            if access_code_id:
                stmt = stmt.where(Event.access_code_id == access_code_id)
            return list(s.scalars(stmt).all())

    def set_online(self, device_id: str, online: bool) -> None:
        set_online(self.service.db, device_id, online)
        with self.service.db.write() as s:
            d = s.get(Device, device_id)
            assert d is not None
            d.next_reconcile_at = self.clock.now()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    yield from _engine(database_url)


@pytest.fixture
def instant_engine(database_url: str) -> Iterator[Engine]:
    """An engine whose simulated locks take every operation at once (no latency)."""
    yield from _engine(database_url, sandbox_latency=timedelta(0))


def _engine(database_url: str, **settings_changes: Any) -> Iterator[Engine]:
    clock = FakeClock(START)
    # The engine is driven far faster than Seam's per-device limits allow (28 codes on one
    # lock at once); those limits are the API's concern, tested in tests/api.
    settings = replace(
        make_settings(database_url),
        run_worker=False,
        rate_limit_creates=0,
        rate_limit_updates=0,
        rate_limit_deletes=0,
        **settings_changes,
    )
    service = Service(settings, clock)
    workspace_id, _key = service.create_workspace("Engine", sandbox=True)
    ctx = RequestContext(service.services, workspace_id, True, "http://test/")
    eng = Engine(service, clock, ctx)
    eng.drain()
    yield eng
    service.db.dispose()
