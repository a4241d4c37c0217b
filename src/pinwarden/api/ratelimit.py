"""Per-device rate limits on access-code writes (spec R51).

Seam allows, per device and minute, 10 access-code creations, 10 updates and 20 deletions;
more gets ``429 Too Many Requests``. pinwarden keeps a sliding-window log per device and
action in this process's memory: a request is admitted when fewer than ``limit`` requests of
the same action on the same device were admitted in the last minute. Limits are therefore
per server process (two processes behind a balancer allow twice as much).

Handlers call :meth:`RateLimiter.check` after a request has passed validation and found its
device in the caller's workspace, and before they write anything: a refused request changes
no state, and an invalid one costs no budget. (An admitted request that then fails, say on a
database error, still counts: the limiter errs on the side of the lock.)
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pinwarden.api.errors import SeamError
from pinwarden.clock import Clock
from pinwarden.config import Settings

Action = Literal["create", "update", "delete"]

WINDOW = timedelta(minutes=1)

# Seam's type for a 429 is undocumented (spec §2.8); this name follows its snake_case types.
RATE_LIMITED = "rate_limit_exceeded"

_NOUNS: dict[str, str] = {
    "create": "access code creations",
    "update": "access code updates",
    "delete": "access code deletions",
}


class RateLimiter:
    """Sliding-window limits per ``(device_id, action)``; thread-safe.

    ``limits`` maps an action to the requests allowed per ``window``; 0 or a missing action
    means unlimited. Memory holds at most ``limit`` instants per device and action, and only
    for devices written to within about the last two windows: idle devices are evicted.
    """

    def __init__(self, clock: Clock, limits: Mapping[str, int], window: timedelta = WINDOW) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if any(limit < 0 for limit in limits.values()):
            raise ValueError("limits cannot be negative")
        self._clock = clock
        self._limits = dict(limits)
        self._window = window
        self._lock = threading.Lock()
        # Admission instants, oldest first, of the requests still inside the window.
        self._log: dict[tuple[str, str], deque[datetime]] = {}
        self._next_sweep: datetime | None = None

    @classmethod
    def from_settings(cls, clock: Clock, settings: Settings) -> RateLimiter:
        """The limits configured in ``settings`` (``PINWARDEN_RATE_LIMIT_*``)."""
        return cls(
            clock,
            {
                "create": settings.rate_limit_creates,
                "update": settings.rate_limit_updates,
                "delete": settings.rate_limit_deletes,
            },
        )

    def limit(self, action: str) -> int:
        """Requests allowed per window for ``action`` (0: unlimited)."""
        return self._limits.get(action, 0)

    def check(self, action: Action, *device_ids: str) -> None:
        """Admit one ``action`` on each of ``device_ids``, or raise 429 and admit none.

        All or nothing, so a request touching several devices (``create_multiple``) never
        spends budget on some devices when it is refused for another. The error carries a
        ``Retry-After`` header: whole seconds until every refused device has room again.
        """
        limit = self.limit(action)
        if limit == 0 or not device_ids:
            return
        now = self._clock.now()
        horizon = now - self._window
        devices = list(dict.fromkeys(device_ids))
        with self._lock:
            self._sweep(now, horizon)
            refused: list[tuple[str, float]] = []
            for device_id in devices:
                log = self._log.get((device_id, action))
                if log is None:
                    continue
                while log and log[0] <= horizon:
                    log.popleft()
                if len(log) >= limit:
                    # Room returns when enough of the oldest admissions leave the window.
                    frees_at = log[len(log) - limit] + self._window
                    refused.append((device_id, (frees_at - now).total_seconds()))
            if refused:
                device_id = refused[0][0]
                wait = max(1, math.ceil(max(seconds for _, seconds in refused)))
                raise rate_limited(action, limit, device_id, wait, self._window)
            for device_id in devices:
                self._log.setdefault((device_id, action), deque()).append(now)

    def tracked(self) -> int:
        """How many ``(device, action)`` logs are held (for tests of the eviction)."""
        with self._lock:
            return len(self._log)

    def _sweep(self, now: datetime, horizon: datetime) -> None:
        """Drop logs whose newest admission has left the window; at most once per window,
        so the cost is spread thin and memory follows only recently written devices."""
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + self._window
        idle = [key for key, log in self._log.items() if not log or log[-1] <= horizon]
        for key in idle:
            del self._log[key]


def rate_limited(
    action: str, limit: int, device_id: str, retry_after: int, window: timedelta = WINDOW
) -> SeamError:
    """429 ``rate_limit_exceeded`` with Seam's envelope and a ``Retry-After`` header."""
    per = "minute" if window == WINDOW else f"{window.total_seconds():g} seconds"
    noun = _NOUNS.get(action, f"{action} requests")
    return SeamError(
        429,
        RATE_LIMITED,
        f"Too many {noun} on this device: at most {limit} per {per}; retry in {retry_after} s",
        data={"device_id": device_id, "retry_after_seconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
