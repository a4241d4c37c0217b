"""A lock's local wall-clock time: UTC instants to local times and back (IANA zones, DST).

pinwarden keeps every window as UTC instants; only drivers of locks that schedule in local
time convert, at the edge. A local time is a naive datetime whose ``fold`` tells the two
passes of a repeated hour apart (PEP 495: ``fold=1`` is the second 01:30 of a fall-back
night), so converting to local time and back gives the very same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

Window = tuple[datetime, datetime]


class NonexistentLocalTime(ValueError):
    """A wall-clock time the zone skips (the hour lost when clocks spring forward)."""


@cache
def _known_zones() -> frozenset[str]:
    # Scanning the time zone database is slow; the set of names does not change while
    # the process runs.
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name (``America/New_York``) this system knows.

    Checked against the list of zones rather than by trying ``ZoneInfo(name)``, which
    also loads files that are not zones (``posixrules``) and fails on others with
    assorted exceptions."""
    return name in _known_zones()


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The wall-clock time ``zone`` shows at ``instant``: naive, ``fold=1`` during the
    second pass of a repeated hour."""
    if instant.tzinfo is None:
        raise ValueError("to_local needs a timezone-aware instant")
    return instant.astimezone(zone).replace(tzinfo=None)


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which ``zone`` shows the naive wall-clock time ``local``.

    In a repeated hour ``local.fold`` picks the pass (0 first, 1 second). A time in the
    hour skipped by spring-forward never shows: :class:`NonexistentLocalTime`, rather than
    the instant an hour off that ``zoneinfo`` would quietly give.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc needs a naive wall-clock time")
    instant = local.replace(tzinfo=zone).astimezone(UTC)
    # Naive comparison ignores fold, so this only fails for a skipped time, which
    # comes back as a different wall-clock reading.
    if to_local(instant, zone) != local:
        raise NonexistentLocalTime(f"{local.isoformat()} does not exist in {zone.key}")
    return instant


def window_to_local(window: Window, zone: ZoneInfo) -> Window:
    """A UTC window as the lock's wall-clock start and end."""
    starts_at, ends_at = window
    return to_local(starts_at, zone), to_local(ends_at, zone)


def window_to_utc(window: Window, zone: ZoneInfo) -> Window:
    """A wall-clock window of a lock in ``zone`` as UTC instants."""
    starts_at, ends_at = window
    return to_utc(starts_at, zone), to_utc(ends_at, zone)
