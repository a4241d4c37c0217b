"""The per-device rate limiter (R51) on a fake clock, without HTTP, on each backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from pinwarden.api.errors import SeamError
from pinwarden.api.ratelimit import RateLimiter
from pinwarden.clock import FakeClock
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store.db import Database
from pinwarden.store.tables import Device, RateLimitAdmission
from tests.conftest import make_settings

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    svc = Service(replace(make_settings(database_url), run_worker=False), FakeClock(T0))
    yield svc
    svc.db.dispose()


@pytest.fixture
def db(service: Service) -> Database:
    return service.db


@pytest.fixture
def locks(service: Service) -> list[str]:
    """The ids of a sandbox workspace's seeded locks."""
    service.create_workspace("limits", sandbox=True)
    with service.db.read() as session:
        return sorted(session.scalars(select(Device.device_id)))


class Limits:
    """A limiter on a fake clock, checked in a write transaction of its own per call."""

    def __init__(self, db: Database, **limits: int) -> None:
        self.db = db
        self.clock = FakeClock(T0)
        self.limiter = RateLimiter(self.clock, limits or {"create": 10, "update": 10, "delete": 20})

    def check(self, action: str, *devices: str) -> None:
        with self.db.write() as session:
            self.limiter.check(session, action, *devices)  # type: ignore[arg-type]

    def refusal(self, action: str, *devices: str) -> SeamError:
        with pytest.raises(SeamError) as info:
            self.check(action, *devices)
        return info.value

    def rows(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(RateLimitAdmission)) or 0)


def test_the_eleventh_create_in_a_minute_is_refused_with_seams_envelope(
    db: Database, locks: list[str]
) -> None:
    limits = Limits(db)
    for _ in range(10):
        limits.check("create", locks[0])
    error = limits.refusal("create", locks[0])
    assert (error.status, error.type) == (429, "rate_limit_exceeded")
    assert error.headers == {"Retry-After": "60"}
    assert error.data == {"device_id": locks[0], "retry_after_seconds": 60}
    assert error.body()["error"]["message"] == (
        "Too many access code creations on this device: at most 10 per minute; retry in 60 s"
    )


def test_the_window_slides_and_retry_after_rounds_up(db: Database, locks: list[str]) -> None:
    limits, lock = Limits(db, create=2), locks[0]
    limits.check("create", lock)
    limits.clock.advance(timedelta(seconds=10.2))
    limits.check("create", lock)
    limits.clock.advance(timedelta(seconds=20))
    # The first admission leaves the window 60 s after it came: in 29.8 s, said as 30.
    assert limits.refusal("create", lock).headers == {"Retry-After": "30"}
    limits.clock.advance(timedelta(seconds=29.7))
    assert limits.refusal("create", lock).headers == {"Retry-After": "1"}
    limits.clock.advance(timedelta(seconds=0.1))
    limits.check("create", lock)  # exactly 60 s later: the first one no longer counts
    assert limits.refusal("create", lock).headers == {"Retry-After": "11"}


def test_refused_requests_spend_no_budget(db: Database, locks: list[str]) -> None:
    limits, lock = Limits(db, delete=1), locks[0]
    limits.check("delete", lock)
    for _ in range(5):
        limits.clock.advance(10 * SECOND)
        limits.refusal("delete", lock)
    limits.clock.advance(10 * SECOND)
    limits.check("delete", lock)


def test_a_transaction_that_fails_after_the_check_spends_no_budget(
    db: Database, locks: list[str]
) -> None:
    limits, lock = Limits(db, create=1), locks[0]
    with pytest.raises(RuntimeError), db.write() as session:
        limits.limiter.check(session, "create", lock)
        raise RuntimeError("the write after the check failed")
    limits.check("create", lock)
    assert limits.refusal("create", lock).status == 429


def test_devices_and_actions_have_separate_budgets(db: Database, locks: list[str]) -> None:
    limits = Limits(db)
    for _ in range(10):
        limits.check("create", locks[0])
        limits.check("update", locks[0])
    for _ in range(20):
        limits.check("delete", locks[0])
    limits.check("create", locks[1])
    for action in ("create", "update", "delete"):
        assert limits.refusal(action, locks[0]).status == 429


def test_several_devices_are_admitted_all_or_nothing(db: Database, locks: list[str]) -> None:
    """What ``create_multiple`` needs: no budget is spent when one device refuses."""
    limits, idle, busy = Limits(db, create=2), locks[0], locks[1]
    limits.check("create", busy)
    limits.clock.advance(5 * SECOND)
    limits.check("create", busy)
    error = limits.refusal("create", idle, busy)
    assert error.data == {"device_id": busy, "retry_after_seconds": 55}
    limits.check("create", idle)
    limits.check("create", idle)  # the refused request took nothing from "idle"
    limits.clock.advance(60 * SECOND)
    limits.check("create", idle, busy, busy)  # a device listed twice counts once
    limits.check("create", busy)


def test_zero_means_unlimited(db: Database, locks: list[str]) -> None:
    limits = Limits(db, create=0, update=3)
    for _ in range(100):
        limits.check("create", locks[0])
        limits.check("delete", locks[0])  # not configured at all
    assert limits.rows() == 0
    with pytest.raises(ValueError):
        RateLimiter(FakeClock(T0), {"create": -1})


def test_admissions_that_left_the_window_are_deleted(db: Database, locks: list[str]) -> None:
    limits = Limits(db)
    for lock in locks:
        for _ in range(10):
            limits.check("create", lock)
    assert limits.rows() == 10 * len(locks)
    limits.clock.advance(61 * SECOND)
    limits.check("create", locks[0])
    assert limits.rows() == 10 * (len(locks) - 1) + 1  # only the checked device's went
    with db.write() as session:
        session.execute(delete(Device).where(Device.device_id != locks[0]))
    assert limits.rows() == 1  # a device's log goes with it


def test_concurrent_requests_never_exceed_the_limit(db: Database, locks: list[str]) -> None:
    limits = Limits(db, update=10)
    admitted: list[int] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(10):
            try:
                limits.check("update", locks[0])
                admitted.append(1)
            except SeamError:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 10


def test_two_limiters_on_one_database_share_the_budget(
    database_url: str, db: Database, locks: list[str]
) -> None:
    """What two API processes see: each its own engine and limiter, one budget per device."""
    other = Database(database_url)
    try:
        replicas = [Limits(db, create=10), Limits(other, create=10)]
        admitted: list[int] = []
        start = threading.Barrier(6)

        def hammer(limits: Limits) -> None:
            start.wait()
            for _ in range(8):
                try:
                    limits.check("create", locks[0], locks[1])
                    admitted.append(1)
                except SeamError:
                    pass

        threads = [threading.Thread(target=hammer, args=(replicas[n % 2],)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(admitted) == 10
        assert replicas[1].refusal("create", locks[1]).status == 429
    finally:
        other.dispose()


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().rate_limit_creates, Settings().rate_limit_updates) == (10, 10)
    assert Settings().rate_limit_deletes == 20
    monkeypatch.setenv("PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE", "0")
    monkeypatch.setenv("PINWARDEN_RATE_LIMIT_UPDATES_PER_MINUTE", "3")
    monkeypatch.setenv("PINWARDEN_RATE_LIMIT_DELETES_PER_MINUTE", "")
    settings = Settings.from_env()
    assert (
        settings.rate_limit_creates,
        settings.rate_limit_updates,
        settings.rate_limit_deletes,
    ) == (0, 3, 20)
    limiter = RateLimiter.from_settings(FakeClock(T0), settings)
    assert [limiter.limit(a) for a in ("create", "update", "delete")] == [0, 3, 20]
