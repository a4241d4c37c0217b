"""Recurrences (a pinwarden extension): validation, and occurrences exact across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinwarden.domain.errors import RuleViolation
from pinwarden.domain.recurrence import (
    Recurrence,
    next_occurrences,
    occurrence_at,
    parse_recurrence,
    window_at,
)

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def weekly(*windows: tuple[list[str], str, str], zone: str | None = NEW_YORK) -> dict[str, Any]:
    value: dict[str, Any] = {
        "weekly": [{"days": days, "from": f, "to": t} for days, f, t in windows]
    }
    if zone is not None:
        value["time_zone"] = zone
    return value


CLEANER = parse_recurrence(weekly((["mon", "thu"], "10:00", "14:00")))


def test_a_valid_recurrence_is_normalised() -> None:
    parsed = parse_recurrence(weekly((["thu", "MON", "mon"], "10:00", "14:00")))
    assert parsed.to_json() == {
        "time_zone": NEW_YORK,
        "weekly": [{"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}],
    }
    assert Recurrence.from_json(parsed.to_json()) == parsed


def test_the_time_zone_defaults_to_the_devices() -> None:
    parsed = parse_recurrence(weekly((["sun"], "08:00", "09:00"), zone=None), BERLIN)
    assert parsed.time_zone == BERLIN
    with pytest.raises(RuleViolation, match="time_zone is required"):
        parse_recurrence(weekly((["sun"], "08:00", "09:00"), zone=None), None)


BAD = {
    "not an object": ([], "must be an object"),
    "unknown key": ({**weekly((["mon"], "10:00", "11:00")), "monthly": []}, "unknown keys"),
    "unknown zone": (weekly((["mon"], "10:00", "11:00"), zone="Mars/Olympus"), "IANA"),
    "no windows": ({"time_zone": NEW_YORK, "weekly": []}, "at least one window"),
    "no days": (weekly(([], "10:00", "11:00")), "non-empty list of days"),
    "bad day": (weekly((["monday"], "10:00", "11:00")), "is not one of"),
    "12-hour time": (weekly((["mon"], "10am", "11:00")), "HH:MM"),
    "hour 24": (weekly((["mon"], "10:00", "24:00")), "not a time of day"),
    "minute 60": (weekly((["mon"], "10:60", "11:00")), "not a time of day"),
    "single-digit hour": (weekly((["mon"], "9:00", "11:00")), "HH:MM"),
    "ends before it starts": (weekly((["mon"], "14:00", "10:00")), "later than its from"),
    "empty": (weekly((["mon"], "10:00", "10:00")), "later than its from"),
    "overlap": (
        weekly((["mon", "tue"], "10:00", "12:00"), (["tue"], "11:59", "13:00")),
        "weekly\\[0\\] and weekly\\[1\\] overlap on tue",
    ),
}


@pytest.mark.parametrize(("value", "message"), BAD.values(), ids=BAD.keys())
def test_invalid_recurrences_are_refused(value: Any, message: str) -> None:
    with pytest.raises(RuleViolation, match=message) as caught:
        parse_recurrence(value)
    assert caught.value.param == "recurrence"


def test_back_to_back_windows_do_not_overlap() -> None:
    parse_recurrence(weekly((["mon"], "10:00", "12:00"), (["mon"], "12:00", "13:00")))


def test_an_occurrence_shorter_than_the_minimum_is_refused() -> None:
    value = weekly((["mon"], "10:00", "10:10"))
    with pytest.raises(RuleViolation, match="at least 0:15:00"):
        parse_recurrence(value, minimum=timedelta(minutes=15))
    parse_recurrence(value, minimum=timedelta(minutes=10))


def test_the_occurrence_containing_now_or_else_the_next() -> None:
    # 2025-01-06 is a Monday; New York is on EST (UTC-5).
    monday = (utc("2025-01-06T15:00:00"), utc("2025-01-06T19:00:00"))
    thursday = (utc("2025-01-09T15:00:00"), utc("2025-01-09T19:00:00"))
    assert occurrence_at(CLEANER, None, None, utc("2025-01-05T00:00:00")) == monday
    assert occurrence_at(CLEANER, None, None, monday[0]) == monday
    assert occurrence_at(CLEANER, None, None, monday[1] - timedelta(seconds=1)) == monday
    # An occurrence is half-open: at its end the next one is the answer.
    assert occurrence_at(CLEANER, None, None, monday[1]) == thursday
    assert occurrence_at(CLEANER, None, None, thursday[1]) == (
        utc("2025-01-13T15:00:00"),
        utc("2025-01-13T19:00:00"),
    )


def test_occurrences_are_clipped_to_the_overall_window() -> None:
    starts, ends = utc("2025-01-06T16:30:00"), utc("2025-01-09T17:00:00")
    assert occurrence_at(CLEANER, starts, ends, utc("2025-01-01T00:00:00")) == (
        starts,
        utc("2025-01-06T19:00:00"),
    )
    assert occurrence_at(CLEANER, starts, ends, utc("2025-01-07T00:00:00")) == (
        utc("2025-01-09T15:00:00"),
        ends,
    )
    # After the last occurrence before the overall end: none left.
    assert occurrence_at(CLEANER, starts, ends, ends) is None
    assert occurrence_at(CLEANER, None, utc("2025-01-09T15:00:00"), utc("2025-01-07")) is None
    assert next_occurrences(CLEANER, starts, ends, utc("2025-01-01T00:00:00"), 5) == [
        (starts, utc("2025-01-06T19:00:00")),
        (utc("2025-01-09T15:00:00"), ends),
    ]


def test_a_week_across_spring_forward_in_new_york() -> None:
    # Clocks go from 02:00 EST to 03:00 EDT on Sunday 2025-03-09 (07:00 UTC).
    daily = parse_recurrence(
        weekly((list(("mon", "tue", "wed", "thu", "fri", "sat", "sun")), "01:30", "02:30"))
    )
    found = next_occurrences(daily, None, None, utc("2025-03-07T00:00:00"), 4)
    assert found == [
        (utc("2025-03-07T06:30:00"), utc("2025-03-07T07:30:00")),  # Fri, EST
        (utc("2025-03-08T06:30:00"), utc("2025-03-08T07:30:00")),  # Sat, EST
        # Sun: 02:30 never shows; the occurrence ends at the gap's end, 03:00 EDT.
        (utc("2025-03-09T06:30:00"), utc("2025-03-09T07:00:00")),
        (utc("2025-03-10T05:30:00"), utc("2025-03-10T06:30:00")),  # Mon, EDT
    ]
    # A window wholly inside the skipped hour does not occur that night.
    gap = parse_recurrence(weekly((["sat", "sun", "mon"], "02:10", "02:50")))
    assert next_occurrences(gap, None, None, utc("2025-03-08T00:00:00"), 2) == [
        (utc("2025-03-08T07:10:00"), utc("2025-03-08T07:50:00")),
        (utc("2025-03-10T06:10:00"), utc("2025-03-10T06:50:00")),
    ]
    # A start in the gap moves to the first instant after it.
    starts_in_gap = parse_recurrence(weekly((["sun"], "02:30", "04:00")))
    assert occurrence_at(starts_in_gap, None, None, utc("2025-03-08T00:00:00")) == (
        utc("2025-03-09T07:00:00"),
        utc("2025-03-09T08:00:00"),
    )


def test_a_week_across_fall_back_in_new_york() -> None:
    # Clocks go from 02:00 EDT back to 01:00 EST on Sunday 2025-11-02 (06:00 UTC).
    cleaner = next_occurrences(CLEANER, None, None, utc("2025-10-30T00:00:00"), 3)
    assert cleaner == [
        (utc("2025-10-30T14:00:00"), utc("2025-10-30T18:00:00")),  # Thu, EDT
        (utc("2025-11-03T15:00:00"), utc("2025-11-03T19:00:00")),  # Mon, EST
        (utc("2025-11-06T15:00:00"), utc("2025-11-06T19:00:00")),
    ]
    # In the repeated hour, the first pass: 01:15–01:45 EDT.
    night = parse_recurrence(weekly((["sun"], "01:15", "01:45"), (["sun"], "00:30", "01:05")))
    assert next_occurrences(night, None, None, utc("2025-11-01T00:00:00"), 3) == [
        (utc("2025-11-02T04:30:00"), utc("2025-11-02T05:05:00")),
        (utc("2025-11-02T05:15:00"), utc("2025-11-02T05:45:00")),
        (utc("2025-11-09T05:30:00"), utc("2025-11-09T06:05:00")),
    ]
    # A window spanning the change lasts an hour longer that night.
    across = parse_recurrence(weekly((["sun"], "00:00", "03:00")))
    starts, ends = occurrence_at(across, None, None, utc("2025-11-01T00:00:00")) or (None, None)
    assert (starts, ends) == (utc("2025-11-02T04:00:00"), utc("2025-11-02T08:00:00"))


def test_a_week_across_both_changes_in_berlin() -> None:
    # Berlin: 02:00 CET → 03:00 CEST on 2025-03-30, 03:00 CEST → 02:00 CET on 2025-10-26.
    sunday = parse_recurrence(weekly((["sat", "sun"], "02:30", "03:30"), zone=BERLIN))
    assert next_occurrences(sunday, None, None, utc("2025-03-29T00:00:00"), 3) == [
        (utc("2025-03-29T01:30:00"), utc("2025-03-29T02:30:00")),  # Sat, CET
        (utc("2025-03-30T01:00:00"), utc("2025-03-30T01:30:00")),  # Sun: starts at 03:00 CEST
        (utc("2025-04-05T00:30:00"), utc("2025-04-05T01:30:00")),  # Sat, CEST
    ]
    assert next_occurrences(sunday, None, None, utc("2025-10-25T00:00:00"), 3) == [
        (utc("2025-10-25T00:30:00"), utc("2025-10-25T01:30:00")),  # Sat, CEST
        # Sun: 02:30 is the first pass (CEST), 03:30 is CET: two hours that night.
        (utc("2025-10-26T00:30:00"), utc("2025-10-26T02:30:00")),
        (utc("2025-11-01T01:30:00"), utc("2025-11-01T02:30:00")),  # Sat, CET
    ]


def test_occurrences_are_found_from_any_instant_of_a_week() -> None:
    monday_only = parse_recurrence(weekly((["mon"], "23:00", "23:59"), zone="Pacific/Kiritimati"))
    at = utc("2025-01-01T00:00:00")
    for _ in range(7 * 24):
        found = occurrence_at(monday_only, None, None, at)
        assert found is not None and found[1] > at
        assert found[0] - at <= timedelta(days=7)
        at += timedelta(hours=1)


def test_the_window_a_code_counts_as_having() -> None:
    starts, ends = utc("2025-01-01T00:00:00"), utc("2025-02-01T00:00:00")
    now = utc("2025-01-07T00:00:00")
    assert window_at(None, starts, ends, now) == (starts, ends)
    assert window_at(CLEANER.to_json(), starts, ends, now) == (
        utc("2025-01-09T15:00:00"),
        utc("2025-01-09T19:00:00"),
    )
    # None left: finished at once.
    late = utc("2025-01-31T00:00:00")
    assert window_at(CLEANER.to_json(), starts, ends, late) == (late, late)
