"""The brute-force guard's arithmetic on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinwarden.api.bruteforce import AuthFailureGuard
from pinwarden.api.errors import SeamError
from pinwarden.clock import FakeClock


def _held(guard: AuthFailureGuard, address: str) -> int | None:
    try:
        guard.check(address)
    except SeamError as exc:
        assert exc.status == 429 and exc.headers is not None
        return int(exc.headers["Retry-After"])
    return None


def test_a_burst_is_held_and_a_steady_guesser_gets_about_limit_a_minute() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    guard = AuthFailureGuard(clock, limit=10)
    for _ in range(9):
        assert _held(guard, "a") is None
        guard.failed("a")
    assert _held(guard, "a") is None
    guard.failed("a")
    assert _held(guard, "a") == 1
    assert _held(guard, "b") is None  # another address

    # A guesser that always waits out Retry-After, for ten minutes.
    tries = 0
    end = clock.now() + timedelta(minutes=10)
    while clock.now() < end:
        wait = _held(guard, "a")
        if wait is None:
            guard.failed("a")
            tries += 1
        else:
            clock.advance(timedelta(seconds=wait))
    assert 80 <= tries <= 110

    # Left alone, the address is free again within a few minutes.
    clock.advance(timedelta(minutes=3))
    assert _held(guard, "a") is None


def test_zero_turns_the_guard_off() -> None:
    guard = AuthFailureGuard(FakeClock(datetime(2025, 1, 1, tzinfo=UTC)), limit=0)
    for _ in range(100):
        guard.failed("a")
    assert _held(guard, "a") is None
    with pytest.raises(ValueError):
        AuthFailureGuard(FakeClock(datetime(2025, 1, 1, tzinfo=UTC)), limit=-1)
