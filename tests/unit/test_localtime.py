"""UTC instants to a lock's wall-clock time and back, across both 2025 DST transitions."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pinwarden.domain.localtime import (
    NonexistentLocalTime,
    is_time_zone,
    to_local,
    to_utc,
    window_to_local,
    window_to_utc,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_spring_forward_skips_the_2_am_hour_in_new_york() -> None:
    # 2025-03-09 02:00 EST becomes 03:00 EDT, at 07:00 UTC.
    assert to_local(utc("2025-03-09T06:59:59"), NEW_YORK) == datetime(2025, 3, 9, 1, 59, 59)
    assert to_local(utc("2025-03-09T07:00:00"), NEW_YORK) == datetime(2025, 3, 9, 3, 0)
    assert to_utc(datetime(2025, 3, 9, 1, 30), NEW_YORK) == utc("2025-03-09T06:30:00")
    assert to_utc(datetime(2025, 3, 9, 3, 30), NEW_YORK) == utc("2025-03-09T07:30:00")


@pytest.mark.parametrize("fold", [0, 1])
@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_wall_clock_time_in_the_skipped_hour_is_refused_not_guessed(
    minute: int, fold: int
) -> None:
    with pytest.raises(NonexistentLocalTime):
        to_utc(datetime(2025, 3, 9, 2, minute, fold=fold), NEW_YORK)


def test_fall_back_repeats_the_1_am_hour_and_fold_tells_the_passes_apart() -> None:
    # 2025-11-02 02:00 EDT becomes 01:00 EST, at 06:00 UTC: 01:30 happens twice.
    first, second = (
        to_local(utc("2025-11-02T05:30:00"), NEW_YORK),
        to_local(utc("2025-11-02T06:30:00"), NEW_YORK),
    )
    assert first == second == datetime(2025, 11, 2, 1, 30)
    assert (first.fold, second.fold) == (0, 1)
    assert to_utc(datetime(2025, 11, 2, 1, 30), NEW_YORK) == utc("2025-11-02T05:30:00")
    assert to_utc(datetime(2025, 11, 2, 1, 30, fold=1), NEW_YORK) == utc("2025-11-02T06:30:00")
    assert to_local(utc("2025-11-02T07:00:00"), NEW_YORK) == datetime(2025, 11, 2, 2, 0)


def test_berlin_transitions() -> None:
    # 2025-03-30 02:00 CET becomes 03:00 CEST; 2025-10-26 03:00 CEST becomes 02:00 CET;
    # both at 01:00 UTC.
    assert to_local(utc("2025-03-30T01:00:00"), BERLIN) == datetime(2025, 3, 30, 3, 0)
    with pytest.raises(NonexistentLocalTime):
        to_utc(datetime(2025, 3, 30, 2, 15), BERLIN)
    late = to_local(utc("2025-10-26T01:15:00"), BERLIN)
    assert (late, late.fold) == (datetime(2025, 10, 26, 2, 15), 1)
    assert to_utc(datetime(2025, 10, 26, 2, 15), BERLIN) == utc("2025-10-26T00:15:00")
    assert to_utc(late, BERLIN) == utc("2025-10-26T01:15:00")


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        (NEW_YORK, "2025-03-09"),
        (NEW_YORK, "2025-11-02"),
        (BERLIN, "2025-03-30"),
        (BERLIN, "2025-10-26"),
    ],
)
def test_every_instant_of_a_transition_day_survives_the_round_trip(
    zone: ZoneInfo, day: str
) -> None:
    start = utc(f"{day}T00:00:00") - timedelta(hours=6)
    for step in range(0, 36 * 60, 7):
        instant = start + timedelta(minutes=step, microseconds=123_456)
        assert to_utc(to_local(instant, zone), zone) == instant


def test_windows_convert_both_ends() -> None:
    window = (utc("2025-11-02T05:30:00"), utc("2025-11-02T06:30:00"))
    local = window_to_local(window, NEW_YORK)
    assert local == (datetime(2025, 11, 2, 1, 30), datetime(2025, 11, 2, 1, 30))
    assert [t.fold for t in local] == [0, 1]
    assert window_to_utc(local, NEW_YORK) == window


def test_local_times_are_naive_and_instants_aware() -> None:
    with pytest.raises(ValueError):
        to_local(datetime(2025, 1, 1), NEW_YORK)
    with pytest.raises(ValueError):
        to_utc(utc("2025-01-01T00:00:00"), NEW_YORK)


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("America/New_York", True),
        ("Europe/Berlin", True),
        ("UTC", True),
        ("america/new_york", False),
        ("Mars/Olympus_Mons", False),
        ("America", False),
        ("posixrules", False),
        ("../../etc/passwd", False),
        ("", False),
    ],
)
def test_time_zone_names(name: str, known: bool) -> None:
    assert is_time_zone(name) is known
