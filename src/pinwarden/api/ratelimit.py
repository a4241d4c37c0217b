"""Per-device rate limits on access-code writes (spec R51).

Seam allows, per device and minute, 10 access-code creations, 10 updates and 20 deletions;
more gets ``429 Too Many Requests``. pinwarden keeps a sliding-window log per device and
action in the database (``rate_limit_admissions``): a request is admitted when fewer than
``limit`` requests of the same action on the same device were admitted in the last minute.
Every API process on the database shares the log, so the limits hold however many
``pinwarden serve`` replicas answer, and survive restarts.

Handlers call :meth:`RateLimiter.check` in their write transaction, after a request has
passed validation and found its device in the caller's workspace, and before they write
anything: a refused request changes no state, and an invalid one costs no budget. The
admission is part of the request's transaction, so a request that fails after the check
(and rolls back) costs nothing either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from pinwarden.api.errors import SeamError
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.store.tables import Device, RateLimitAdmission

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
    """Sliding-window limits per ``(device_id, action)``, counted in the database.

    ``limits`` maps an action to the requests allowed per ``window``; 0 or a missing action
    means unlimited. A device keeps about ``limit`` rows per action: an admitted check
    deletes the device's admissions that have left the window.
    """

    def __init__(self, clock: Clock, limits: Mapping[str, int], window: timedelta = WINDOW) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if any(limit < 0 for limit in limits.values()):
            raise ValueError("limits cannot be negative")
        self._clock = clock
        self._limits = dict(limits)
        self._window = window

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

    def check(self, session: Session, action: Action, *device_ids: str) -> None:
        """Admit one ``action`` on each of ``device_ids`` within ``session``'s write
        transaction, or raise 429 and admit none.

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
        if session.get_bind().dialect.name != "sqlite":
            # The device rows are the mutex: a concurrent check of the same device, in any
            # process, waits here until this transaction ends, then reads what it admitted
            # (each statement sees the latest commits under READ COMMITTED). Sorted, so two
            # multi-device checks cannot deadlock. SQLite serializes writers already.
            session.execute(
                select(Device.device_id)
                .where(Device.device_id.in_(devices))
                .order_by(Device.device_id)
                .with_for_update()
            )
        log = RateLimitAdmission
        rows = session.execute(
            select(log.id, log.device_id, log.admitted_at).where(
                log.device_id.in_(devices), log.action == action
            )
        ).all()
        counted: dict[str, list[datetime]] = {}
        for row in rows:
            if row.admitted_at > horizon:
                counted.setdefault(row.device_id, []).append(row.admitted_at)
        refused: list[tuple[str, float]] = []
        for device_id in devices:
            newest_first = sorted(counted.get(device_id, []), reverse=True)
            if len(newest_first) >= limit:
                # Room returns when the limit-th newest admission leaves the window.
                frees_at = newest_first[limit - 1] + self._window
                refused.append((device_id, (frees_at - now).total_seconds()))
        if refused:
            wait = max(1, math.ceil(max(seconds for _, seconds in refused)))
            raise rate_limited(action, limit, refused[0][0], wait, self._window)
        stale = [row.id for row in rows if row.admitted_at <= horizon]
        if stale:
            session.execute(delete(log).where(log.id.in_(stale)))
        session.execute(
            insert(log),
            [{"device_id": d, "action": action, "admitted_at": now} for d in devices],
        )


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
