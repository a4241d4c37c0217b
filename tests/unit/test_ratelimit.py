"""The per-device rate limiter (R51) on a fake clock, without HTTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from pinwarden.api.errors import SeamError
from pinwarden.api.ratelimit import RateLimiter
from pinwarden.clock import FakeClock
from pinwarden.config import Settings

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _limiter(**limits: int) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock(T0)
    return RateLimiter(clock, limits or {"create": 10, "update": 10, "delete": 20}), clock


def _refusal(limiter: RateLimiter, action: str, *devices: str) -> SeamError:
    with pytest.raises(SeamError) as info:
        limiter.check(action, *devices)  # type: ignore[arg-type]
    return info.value


def test_the_eleventh_create_in_a_minute_is_refused_with_seams_envelope() -> None:
    limiter, _ = _limiter()
    for _ in range(10):
        limiter.check("create", "lock-a")
    error = _refusal(limiter, "create", "lock-a")
    assert (error.status, error.type) == (429, "rate_limit_exceeded")
    assert error.headers == {"Retry-After": "60"}
    assert error.data == {"device_id": "lock-a", "retry_after_seconds": 60}
    assert error.body()["error"]["message"] == (
        "Too many access code creations on this device: at most 10 per minute; retry in 60 s"
    )


def test_the_window_slides_and_retry_after_rounds_up() -> None:
    limiter, clock = _limiter(create=2)
    limiter.check("create", "lock")
    clock.advance(timedelta(seconds=10.2))
    limiter.check("create", "lock")
    clock.advance(timedelta(seconds=20))
    # The first admission leaves the window 60 s after it came: in 29.8 s, said as 30.
    assert _refusal(limiter, "create", "lock").headers == {"Retry-After": "30"}
    clock.advance(timedelta(seconds=29.7))
    assert _refusal(limiter, "create", "lock").headers == {"Retry-After": "1"}
    clock.advance(timedelta(seconds=0.1))
    limiter.check("create", "lock")  # exactly 60 s later: the first one no longer counts
    assert _refusal(limiter, "create", "lock").headers == {"Retry-After": "11"}


def test_refused_requests_spend_no_budget() -> None:
    limiter, clock = _limiter(delete=1)
    limiter.check("delete", "lock")
    for _ in range(5):
        clock.advance(10 * SECOND)
        _refusal(limiter, "delete", "lock")
    clock.advance(10 * SECOND)
    limiter.check("delete", "lock")


def test_devices_and_actions_have_separate_budgets() -> None:
    limiter, _ = _limiter()
    for _ in range(10):
        limiter.check("create", "lock-a")
        limiter.check("update", "lock-a")
    for _ in range(20):
        limiter.check("delete", "lock-a")
    limiter.check("create", "lock-b")
    for action in ("create", "update", "delete"):
        assert _refusal(limiter, action, "lock-a").status == 429


def test_several_devices_are_admitted_all_or_nothing() -> None:
    """What ``create_multiple`` needs: no budget is spent when one device refuses."""
    limiter, clock = _limiter(create=2)
    limiter.check("create", "busy")
    clock.advance(5 * SECOND)
    limiter.check("create", "busy")
    error = _refusal(limiter, "create", "idle", "busy")
    assert error.data == {"device_id": "busy", "retry_after_seconds": 55}
    limiter.check("create", "idle")
    limiter.check("create", "idle")  # the refused request took nothing from "idle"
    clock.advance(60 * SECOND)
    limiter.check("create", "idle", "busy", "busy")  # a device listed twice counts once
    limiter.check("create", "busy")


def test_zero_means_unlimited() -> None:
    limiter, _ = _limiter(create=0, update=3)
    for _ in range(1000):
        limiter.check("create", "lock")
        limiter.check("delete", "lock")  # not configured at all
    assert limiter.tracked() == 0
    with pytest.raises(ValueError):
        RateLimiter(FakeClock(T0), {"create": -1})


def test_idle_devices_are_forgotten() -> None:
    limiter, clock = _limiter()
    for n in range(500):
        limiter.check("create", f"lock-{n}")
    assert limiter.tracked() == 500
    clock.advance(61 * SECOND)
    limiter.check("create", "lock-new")
    assert limiter.tracked() == 1


def test_concurrent_requests_never_exceed_the_limit() -> None:
    limiter, _ = _limiter(update=10)
    admitted: list[int] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(50):
            try:
                limiter.check("update", "lock")
                admitted.append(1)
            except SeamError:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 10


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
