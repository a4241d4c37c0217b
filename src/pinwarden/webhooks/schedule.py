"""When deliveries are tried (R160): at once, then +5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""

from __future__ import annotations

from datetime import timedelta

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS)


def delay_before_attempt(attempt: int) -> timedelta | None:
    """Delay after a failure before 1-based ``attempt``; None once attempts are used up."""
    if attempt > MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempt - 1]
