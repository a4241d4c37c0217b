"""Injected time: the engine and API read a clock object, never ``datetime.now()``.

Tests use :class:`FakeClock` and move time forward explicitly; the server runs on
:class:`SystemClock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current instant (timezone-aware, UTC)."""

    def now(self) -> datetime: ...

    def real_seconds_until(self, instant: datetime) -> float | None:
        """Real seconds to wait before ``instant`` is reached, or None when only an
        explicit clock move can reach it (fake clocks)."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever time jumps (fake clocks only)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds_until(self, instant: datetime) -> float | None:
        return max(0.0, (instant - self.now()).total_seconds())

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Wall-clock time never jumps, so there is nothing to notify."""


class FakeClock:
    """A clock that only moves when told to; listeners are told after each move."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def real_seconds_until(self, instant: datetime) -> float | None:
        return 0.0 if instant <= self.now() else None

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` and wake listeners."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        return self.set(self.now() + delta)

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (not earlier than now) and wake listeners."""
        with self._lock:
            if instant < self._now:
                raise ValueError("time only moves forward")
            self._now = instant.astimezone(UTC)
            listeners = list(self._listeners)
            now = self._now
        for listener in listeners:
            listener()
        return now
