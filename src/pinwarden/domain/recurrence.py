"""Recurring access (a pinwarden extension): weekly wall-clock windows in a time zone.

A recurrence such as ``{"time_zone": "America/New_York", "weekly": [{"days": ["mon", "thu"],
"from": "10:00", "to": "14:00"}]}`` gives a code a series of *occurrences*, each a UTC
window, within its optional overall ``starts_at``/``ends_at``. Everything here is pure:
time is an argument.

Wall-clock times become instants in the recurrence's zone (``domain/localtime.py``), so
occurrences are exact across DST: a ``from`` or ``to`` that falls in the hour skipped by
spring-forward moves to the first instant after the gap, and one in the hour repeated by
fall-back means its first pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from pinwarden.domain.errors import RuleViolation
from pinwarden.domain.localtime import NonexistentLocalTime, is_time_zone, to_local, to_utc

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PARAM = "recurrence"
Window = tuple[datetime, datetime]
# A week, a day either side: a search from any instant finds the next occurrence of every
# weekly window, even when DST made one empty.
_SEARCH_DAYS = 16


@dataclass(frozen=True)
class WeeklyWindow:
    """``from``–``to`` wall-clock time on each of ``days`` (0 = Monday)."""

    days: tuple[int, ...]
    starts: time
    ends: time

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [DAYS[d] for d in self.days],
            "from": self.starts.strftime("%H:%M"),
            "to": self.ends.strftime("%H:%M"),
        }


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence."""

    time_zone: str
    weekly: tuple[WeeklyWindow, ...]

    def to_json(self) -> dict[str, Any]:
        """The stored and shown form: days in week order, times as ``HH:MM``."""
        return {"time_zone": self.time_zone, "weekly": [w.to_json() for w in self.weekly]}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Recurrence:
        """A stored recurrence (validated when it was stored)."""
        return parse_recurrence(value)


def _clock_time(value: Any, field: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise RuleViolation(f"recurrence: {field} must be a time of day as HH:MM (24 h)", PARAM)
    hours, minutes = value[:2], value[3:]
    if not (hours.isdigit() and minutes.isdigit() and hours.isascii() and minutes.isascii()):
        raise RuleViolation(f"recurrence: {field} must be a time of day as HH:MM (24 h)", PARAM)
    if int(hours) > 23 or int(minutes) > 59:
        raise RuleViolation(f"recurrence: {field} {value!r} is not a time of day", PARAM)
    return time(int(hours), int(minutes))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _window(item: Any, index: int, minimum: timedelta | None) -> WeeklyWindow:
    where = f"weekly[{index}]"
    if not isinstance(item, dict):
        raise RuleViolation(f"recurrence: {where} must be an object", PARAM)
    unknown = set(item) - {"days", "from", "to"}
    if unknown:
        raise RuleViolation(f"recurrence: {where} has unknown keys: {sorted(unknown)}", PARAM)
    days = item.get("days")
    if not isinstance(days, list) or not days:
        raise RuleViolation(f"recurrence: {where}.days must be a non-empty list of days", PARAM)
    numbers: set[int] = set()
    for day in days:
        if not isinstance(day, str) or day.lower() not in DAYS:
            raise RuleViolation(
                f"recurrence: {where}.days: {day!r} is not one of {', '.join(DAYS)}", PARAM
            )
        numbers.add(DAYS.index(day.lower()))
    starts = _clock_time(item.get("from"), f"{where}.from")
    ends = _clock_time(item.get("to"), f"{where}.to")
    if ends <= starts:
        raise RuleViolation(
            f"recurrence: {where}.to must be later than its from, within the same day", PARAM
        )
    length = timedelta(minutes=_minutes(ends) - _minutes(starts))
    if minimum is not None and length < minimum:
        raise RuleViolation(
            f"recurrence: {where} lasts {length}; this device needs at least {minimum}", PARAM
        )
    return WeeklyWindow(tuple(sorted(numbers)), starts, ends)


def parse_recurrence(
    value: Any, default_time_zone: str | None = None, minimum: timedelta | None = None
) -> Recurrence:
    """Validate a recurrence as a request gives it; :class:`RuleViolation` if it is not one.

    ``default_time_zone`` (the lock's) stands in for a missing ``time_zone``; ``minimum``
    is the shortest occurrence allowed.
    """
    if not isinstance(value, dict):
        raise RuleViolation("recurrence must be an object with time_zone and weekly", PARAM)
    unknown = set(value) - {"time_zone", "weekly"}
    if unknown:
        raise RuleViolation(f"recurrence has unknown keys: {sorted(unknown)}", PARAM)
    zone = value.get("time_zone")
    if zone is None:
        zone = default_time_zone
        if zone is None:
            raise RuleViolation(
                "recurrence.time_zone is required: the device has no time zone", PARAM
            )
    if not isinstance(zone, str) or not is_time_zone(zone):
        raise RuleViolation(
            f"recurrence.time_zone {zone!r} is not a known IANA time zone "
            "(such as America/New_York)",
            PARAM,
        )
    weekly = value.get("weekly")
    if not isinstance(weekly, list) or not weekly:
        raise RuleViolation("recurrence.weekly must list at least one window", PARAM)
    windows = tuple(_window(item, i, minimum) for i, item in enumerate(weekly))
    for day in range(7):
        spans = sorted(
            (_minutes(w.starts), _minutes(w.ends), i)
            for i, w in enumerate(windows)
            if day in w.days
        )
        for (_, first_end, a), (second_start, _, b) in pairwise(spans):
            if second_start < first_end:
                raise RuleViolation(
                    f"recurrence: weekly[{min(a, b)}] and weekly[{max(a, b)}] overlap "
                    f"on {DAYS[day]}",
                    PARAM,
                )
    return Recurrence(zone, windows)


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The instant ``zone`` first shows ``local``; in a spring-forward gap, the first
    instant after it."""
    try:
        return to_utc(local.replace(fold=0), zone)
    except NonexistentLocalTime:
        pass
    # With fold=1 zoneinfo reads a skipped time with the offset of before the gap, with
    # fold=0 that of after it: the gap's end lies between the two. Find it to the second.
    readings = [int(local.replace(tzinfo=zone, fold=f).timestamp()) for f in (0, 1)]
    low, high = min(readings), max(readings)
    while high - low > 1:
        middle = (low + high) // 2
        if to_local(datetime.fromtimestamp(middle, UTC), zone) > local:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _occurrences_from(recurrence: Recurrence, day: date) -> Iterator[Window]:
    """Every occurrence starting on local ``day`` or after, in order (empty ones left out)."""
    zone = ZoneInfo(recurrence.time_zone)
    while True:
        found = []
        for w in recurrence.weekly:
            if day.weekday() in w.days:
                starts = _instant(datetime.combine(day, w.starts), zone)
                ends = _instant(datetime.combine(day, w.ends), zone)
                if starts < ends:
                    found.append((starts, ends))
        yield from sorted(found)
        day += timedelta(days=1)


def occurrence_at(
    recurrence: Recurrence,
    overall_starts_at: datetime | None,
    overall_ends_at: datetime | None,
    now: datetime,
) -> Window | None:
    """The occurrence containing ``now``, else the next one, clipped to the overall
    window; None when no occurrence is left before ``overall_ends_at``."""
    after = now if overall_starts_at is None else max(now, overall_starts_at)
    zone = ZoneInfo(recurrence.time_zone)
    # An occurrence ends on the local day it starts: look from the day before ``after``.
    first_day = to_local(after, zone).date() - timedelta(days=1)
    give_up = after + timedelta(days=_SEARCH_DAYS)
    for starts, ends in _occurrences_from(recurrence, first_day):
        if starts > give_up:
            break
        if overall_starts_at is not None:
            starts = max(starts, overall_starts_at)
        if overall_ends_at is not None:
            if starts >= overall_ends_at:
                return None
            ends = min(ends, overall_ends_at)
        if ends > now and starts < ends:
            return starts, ends
    return None


def next_occurrences(
    recurrence: Recurrence,
    overall_starts_at: datetime | None,
    overall_ends_at: datetime | None,
    now: datetime,
    count: int,
) -> list[Window]:
    """Up to ``count`` occurrences from the one containing ``now`` on."""
    found: list[Window] = []
    at = now
    while len(found) < count:
        occurrence = occurrence_at(recurrence, overall_starts_at, overall_ends_at, at)
        if occurrence is None:
            break
        found.append(occurrence)
        at = occurrence[1]
    return found


def window_at(
    recurrence: dict[str, Any] | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
) -> tuple[datetime | None, datetime | None]:
    """The window a code counts as having at ``now``: its own, or for a recurring code
    (``recurrence`` as stored) its current or next occurrence; ``(now, now)`` once none is
    left, so that it is finished."""
    if recurrence is None:
        return starts_at, ends_at
    occurrence = occurrence_at(Recurrence.from_json(recurrence), starts_at, ends_at, now)
    return occurrence if occurrence is not None else (now, now)
