"""Device time zones through the SDK: ``location.timezone``, set with the ``devices/update``
extension, and a local-time lock whose keypad follows a window inside the repeated hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from seam import Seam
from seam.exceptions import SeamHttpInvalidInputError

from tests.conftest import Harness

SECOND = timedelta(seconds=1)
NEW_YORK = "America/New_York"


def _relocate(seam: Seam, device_id: str, location: Any) -> None:
    seam.client.post("/devices/update", json={"device_id": device_id, "location": location})  # type: ignore[attr-defined]


def _ttlock(seam: Seam) -> str:
    return str(seam.devices.list(device_type="ttlock_lock")[0].device_id)


def test_time_zone_is_shown_and_set(server: Harness) -> None:
    seam = server.seam()
    lock = _ttlock(seam)
    seeded = seam.devices.get(device_id=lock).location
    assert (seeded.timezone, seeded.time_zone) == ("America/Los_Angeles", "America/Los_Angeles")
    _relocate(seam, lock, {"timezone": NEW_YORK})
    assert seam.devices.get(device_id=lock).location.timezone == NEW_YORK
    _relocate(seam, lock, {"time_zone": "Europe/Berlin"})  # newer SDKs' spelling
    assert seam.locks.get(device_id=lock).location.time_zone == "Europe/Berlin"
    _relocate(seam, lock, {"location_name": "Unit 4B"})  # no zone asked for: unchanged
    assert seam.devices.get(device_id=lock).location.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    "location",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "america/new_york"},
        {"time_zone": "EST5EDT/../../etc/passwd"},
        {"timezone": 5},
        {"timezone": None},
        None,
        {"timezone": NEW_YORK, "time_zone": "Europe/Berlin"},
    ],
)
def test_a_bad_time_zone_is_invalid_input(server: Harness, location: Any) -> None:
    seam = server.seam()
    lock = _ttlock(seam)
    with pytest.raises(SeamHttpInvalidInputError) as info:
        _relocate(seam, lock, location)
    assert info.value.status_code == 400
    assert seam.devices.get(device_id=lock).location.timezone == "America/Los_Angeles"


def test_keypad_follows_a_window_in_the_second_pass_of_the_repeated_hour(
    server: Harness,
) -> None:
    seam = server.seam()
    lock = _ttlock(seam)
    _relocate(seam, lock, {"timezone": NEW_YORK})
    server.advance(datetime(2025, 11, 1, 12, tzinfo=UTC) - server.clock.now())
    # 01:15 to 01:45 EST on 2025-11-02, after the clocks went back from 02:00 EDT.
    code = seam.access_codes.create(
        device_id=lock,
        code="2461",
        starts_at="2025-11-02T06:15:00Z",
        ends_at="2025-11-02T06:45:00Z",
    )
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).is_scheduled_on_device
    for at, outcome in [
        ("2025-11-02T05:15:00", "lock.access_denied"),  # 01:15 EDT, the first pass
        ("2025-11-02T05:44:59", "lock.access_denied"),
        ("2025-11-02T06:14:59", "lock.access_denied"),
        ("2025-11-02T06:15:00", "lock.unlocked"),
        ("2025-11-02T06:44:59", "lock.unlocked"),
        ("2025-11-02T06:45:00", "lock.access_denied"),
    ]:
        server.advance(datetime.fromisoformat(at).replace(tzinfo=UTC) - server.clock.now())
        seam.locks.simulate.keypad_code_entry(device_id=lock, code="2461")
        server.settle()  # the engine records what the lock reported
        event = seam.events.get(device_id=lock)
        assert event.event_type == outcome, at
        if outcome == "lock.unlocked":
            assert event.access_code_id == code.access_code_id
