"""Recurring codes (a pinwarden extension) on the fake clock: on the lock only inside each
occurrence, week after week, exact across DST in the code's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinwarden.store.tables import Device
from tests.engine.conftest import Engine
from tests.sandbox import set_faults

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PIN = "5823"
CLEANER = {
    "time_zone": "America/New_York",
    "weekly": [{"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def create_recurring(
    engine: Engine, device_id: str, recurrence: dict[str, Any], **params: Any
) -> str:
    view = engine.create(device_id, code=PIN, recurrence=recurrence, **params)
    return str(view["access_code_id"])


def at(engine: Engine, instant: datetime) -> None:
    """Move the clock to ``instant`` and let the engine do whatever is due."""
    engine.clock.set(instant)
    engine.drain()


def status(engine: Engine, cid: str) -> str | None:
    row = engine.code(cid)
    return None if row is None else row.status


def wake_at(engine: Engine, device_id: str) -> datetime | None:
    with engine.service.db.read() as s:
        device = s.get(Device, device_id)
        assert device is not None
        return device.next_reconcile_at


# Mondays and Thursdays 10:00–14:00 in New York, for a week either side of a DST change.
WEEKS = {
    "spring forward (Sun 2025-03-09)": [
        ("2025-03-06T15:00:00", "2025-03-06T19:00:00"),  # Thu, EST
        ("2025-03-10T14:00:00", "2025-03-10T18:00:00"),  # Mon, EDT
        ("2025-03-13T14:00:00", "2025-03-13T18:00:00"),  # Thu, EDT
    ],
    "fall back (Sun 2025-11-02)": [
        ("2025-10-30T14:00:00", "2025-10-30T18:00:00"),  # Thu, EDT
        ("2025-11-03T15:00:00", "2025-11-03T19:00:00"),  # Mon, EST
        ("2025-11-06T15:00:00", "2025-11-06T19:00:00"),  # Thu, EST
    ],
}


@pytest.mark.parametrize("week", WEEKS.values(), ids=WEEKS.keys())
def test_a_recurring_code_is_on_the_lock_only_inside_each_occurrence(
    engine: Engine, week: list[tuple[str, str]]
) -> None:
    lock = engine.device("smartthings_lock").device_id  # no native scheduling
    at(engine, utc(week[0][0]) - 2 * 24 * HOUR)
    cid = create_recurring(engine, lock, CLEANER)
    assert status(engine, cid) == "unset"
    engine.drain()
    for starts_text, ends_text in week:
        starts, ends = utc(starts_text), utc(ends_text)
        # Woken for the programming lead time, not by chance.
        assert (wake := wake_at(engine, lock)) is not None and wake <= starts - HOUR
        at(engine, starts - HOUR - SECOND)
        assert status(engine, cid) == "unset" and engine.lock_pins(lock) == []
        at(engine, starts - HOUR)
        assert status(engine, cid) == "setting"
        engine.advance(SECOND)
        assert status(engine, cid) == "set" and engine.lock_pins(lock) == [PIN]
        at(engine, ends - SECOND)
        assert status(engine, cid) == "set" and engine.lock_pins(lock) == [PIN]
        assert (wake := wake_at(engine, lock)) is not None and wake <= ends
        at(engine, ends)
        assert status(engine, cid) == "removing"
        engine.advance(SECOND)
        # Off the lock, still on record for the next occurrence.
        assert status(engine, cid) == "unset" and engine.lock_pins(lock) == []
    assert engine.events(cid) == [
        "access_code.created",
        *["access_code.set_on_device", "access_code.removed_from_device"] * len(week),
    ]


def test_a_recurring_code_within_an_overall_window_is_gone_after_its_last_occurrence(
    engine: Engine,
) -> None:
    lock = engine.device("smartthings_lock").device_id
    at(engine, utc("2025-01-06T00:00:00"))  # a Monday, EST
    # Overall: Monday 12:00 EST to the next Monday 12:00 EST .
    cid = create_recurring(
        engine,
        lock,
        CLEANER,
        starts_at=utc("2025-01-06T17:00:00"),
        ends_at=utc("2025-01-13T17:00:00"),
    )
    engine.drain()
    # Monday's occurrence starts at the overall start, 12:00.
    at(engine, utc("2025-01-06T16:00:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "set"
    at(engine, utc("2025-01-06T19:00:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "unset"
    # Thursday's occurrence is the last one whole; the next Monday's is cut at 12:00.
    at(engine, utc("2025-01-09T14:00:00"))
    engine.advance(SECOND)
    at(engine, utc("2025-01-09T19:00:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "unset"
    at(engine, utc("2025-01-13T14:00:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "set"
    at(engine, utc("2025-01-13T17:00:00"))
    engine.advance(SECOND)
    assert engine.code(cid) is None and engine.lock_pins(lock) == []
    assert engine.events(cid) == [
        "access_code.created",
        *["access_code.set_on_device", "access_code.removed_from_device"] * 3,
    ]


def test_a_code_that_cannot_be_set_in_one_occurrence_warns_and_recovers_for_the_next(
    engine: Engine,
) -> None:
    lock = engine.device("smartthings_lock").device_id
    at(engine, utc("2025-01-05T00:00:00"))
    cid = create_recurring(engine, lock, CLEANER)
    engine.drain()
    set_faults(engine.service.db, lock, {"reject_rate": 1.0})
    at(engine, utc("2025-01-06T14:00:00"))  # Monday: programming begins, the lock refuses
    at(engine, utc("2025-01-06T15:04:00"))
    row = engine.code(cid)
    assert row is not None and row.status == "setting"
    assert row.warnings == []  # late only from the occurrence's start
    for _ in range(6):
        engine.advance(MINUTE)
    row = engine.code(cid)
    assert row is not None and row.status == "setting"
    assert [w["warning_code"] for w in row.warnings] == ["delay_in_setting_on_device"]
    # The occurrence ends with the code never set: nothing to remove, no warning left.
    at(engine, utc("2025-01-06T19:00:00"))
    set_faults(engine.service.db, lock, {})
    at(engine, utc("2025-01-07T00:00:00"))
    row = engine.code(cid)
    assert row is not None and (row.status, row.warnings, row.errors) == ("unset", [], [])
    assert engine.lock_pins(lock) == []
    # Thursday's occurrence goes as usual.
    at(engine, utc("2025-01-09T14:00:00"))
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.warnings, row.errors) == ("set", [], [])
    events = engine.events(cid)
    assert events.count("access_code.delay_in_setting_on_device") == 1
    assert "access_code.removed_from_device" not in events
    assert events[-1] == "access_code.set_on_device"
    assert events.count("access_code.set_on_device") == 1


def test_a_lock_that_schedules_natively_gets_a_recurring_code_just_in_time(
    engine: Engine,
) -> None:
    lock = engine.device("schlage_lock").device_id  # loads time-bound codes 72 h ahead
    at(engine, utc("2025-01-05T00:00:00"))
    cid = create_recurring(engine, lock, CLEANER)
    engine.drain()
    engine.advance(SECOND)
    assert status(engine, cid) == "unset" and engine.lock_pins(lock) == []
    at(engine, utc("2025-01-06T14:00:00"))
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.is_scheduled_on_device) == ("set", False)
    assert engine.lock_pins(lock) == [PIN]


def test_a_start_in_the_skipped_hour_opens_at_the_end_of_the_gap_in_berlin(
    engine: Engine,
) -> None:
    lock = engine.device("smartthings_lock").device_id
    # Sundays 02:30–04:00; on 2025-03-30 Berlin's clocks jump from 02:00 CET to 03:00 CEST.
    night = {
        "time_zone": "Europe/Berlin",
        "weekly": [{"days": ["sun"], "from": "02:30", "to": "04:00"}],
    }
    at(engine, utc("2025-03-29T12:00:00"))
    cid = create_recurring(engine, lock, night)
    engine.drain()
    starts, ends = utc("2025-03-30T01:00:00"), utc("2025-03-30T02:00:00")  # 03:00–04:00 CEST
    at(engine, starts - HOUR - SECOND)
    assert status(engine, cid) == "unset"
    at(engine, starts - HOUR)
    engine.advance(SECOND)
    assert status(engine, cid) == "set" and engine.lock_pins(lock) == [PIN]
    at(engine, ends - SECOND)
    assert engine.lock_pins(lock) == [PIN]
    at(engine, ends)
    engine.advance(SECOND)
    assert status(engine, cid) == "unset" and engine.lock_pins(lock) == []
    # A week later, on CEST: 02:30–04:00 is 00:30–02:00 UTC.
    at(engine, utc("2025-04-05T23:30:00") - SECOND)
    assert status(engine, cid) == "unset"
    at(engine, utc("2025-04-05T23:30:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "set"
    at(engine, utc("2025-04-06T02:00:00"))
    engine.advance(SECOND)
    assert status(engine, cid) == "unset"


def test_an_occurrence_missed_while_the_lock_is_offline_is_late_then_unset_then_set_next_time(
    engine: Engine,
) -> None:
    lock = engine.device("smartthings_lock").device_id
    at(engine, utc("2025-01-05T00:00:00"))
    cid = create_recurring(engine, lock, CLEANER)
    engine.drain()
    engine.set_online(lock, False)
    engine.drain()
    # Monday 10:00–14:00 EST: due from 14:00 UTC, late from 15:05 UTC.
    at(engine, utc("2025-01-06T14:00:00"))
    assert status(engine, cid) == "setting"
    at(engine, utc("2025-01-06T15:04:00"))
    row = engine.code(cid)
    assert row is not None and row.warnings == []
    for _ in range(6):
        engine.advance(MINUTE)
    row = engine.code(cid)
    assert row is not None
    assert [w["warning_code"] for w in row.warnings] == ["delay_in_setting_on_device"]
    # The occurrence is over, the lock still away: nothing is due until Thursday.
    at(engine, utc("2025-01-06T19:00:00"))
    row = engine.code(cid)
    assert row is not None and (row.status, row.warnings) == ("unset", [])
    engine.set_online(lock, True)
    at(engine, utc("2025-01-09T14:00:00"))
    engine.advance(SECOND)
    row = engine.code(cid)
    assert row is not None and (row.status, row.warnings) == ("set", [])
    assert engine.lock_pins(lock) == [PIN]
    events = engine.events(cid)
    assert events.count("access_code.delay_in_setting_on_device") == 1
    assert events[-1] == "access_code.set_on_device"
