"""Offline PINs: rounding rules (R182–R183) and the lock reading a PIN back with its secret."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from pinwarden.domain.errors import RuleViolation
from pinwarden.domain.offline_codes import (
    OfflineWindow,
    offline_pin,
    offline_window,
    read_offline_pin,
)

T = datetime(2025, 3, 9, 14, 20, tzinfo=UTC)
SECRET = b"lock secret"


def test_hourly_window_is_widened_to_whole_hours() -> None:
    w = offline_window(T, T + timedelta(hours=5), "1hour", one_time=False)
    assert (w.kind, w.starts_at, w.ends_at) == (
        "hourly",
        datetime(2025, 3, 9, 14, tzinfo=UTC),
        datetime(2025, 3, 9, 20, tzinfo=UTC),
    )


def test_long_windows_need_daily_rounding_within_igloohome_limits() -> None:
    with pytest.raises(RuleViolation):
        offline_window(T, T + timedelta(days=40), "1hour", one_time=False)
    w = offline_window(T, T + timedelta(days=40), "1day", one_time=False)
    assert w.kind == "daily" and w.starts_at == datetime(2025, 3, 9, tzinfo=UTC)
    assert w.ends_at - w.starts_at == timedelta(days=41)
    # Just past 672 hours rounds out to the 29-day minimum.
    w = offline_window(T, T + timedelta(days=28, hours=1), "1day", one_time=False)
    assert w.ends_at - w.starts_at == timedelta(days=29)
    with pytest.raises(RuleViolation):
        offline_window(T, T + timedelta(days=400), "1day", one_time=False)


def test_one_time_code_lasts_a_day_from_its_start_hour() -> None:
    w = offline_window(T, None, "1hour", one_time=True)
    assert w.kind == "one_time" and w.ends_at - w.starts_at == timedelta(hours=24)
    with pytest.raises(RuleViolation):
        offline_window(None, None, "1hour", one_time=True)


@pytest.mark.parametrize("kind_window", ["hourly", "daily", "one_time"])
def test_the_lock_reads_back_exactly_the_window(kind_window: str) -> None:
    window = {
        "hourly": offline_window(T, T + timedelta(hours=30), "1hour", False),
        "daily": offline_window(T, T + timedelta(days=60), "1day", False),
        "one_time": offline_window(T, None, "1hour", True),
    }[kind_window]
    pins = {offline_pin(SECRET, window, v) for v in range(3)}
    assert len(pins) == 3 and all(len(p) == 10 and p.isdigit() for p in pins)
    for pin in pins:
        for now in (
            window.starts_at,
            window.ends_at - timedelta(seconds=1),
            T + timedelta(days=90),
        ):
            assert read_offline_pin(SECRET, pin, now) == window
        # Another lock's secret does not read it.
        assert read_offline_pin(b"other lock", pin, T) != window


def test_random_entries_rarely_pass_for_a_code() -> None:
    rng = random.Random(7)
    window = OfflineWindow("hourly", T, T + timedelta(hours=1))
    hits = sum(
        1
        for _ in range(20_000)
        if (w := read_offline_pin(SECRET, f"{rng.randrange(10**10):010d}", T)) is not None
        and w.starts_at <= T < w.ends_at
    )
    # A random entry opens the lock about 1 time in 10,000 (here: 20,000 tries).
    assert hits < 10
    assert window.unit == timedelta(hours=1)
