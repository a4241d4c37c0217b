"""Offline access codes (R179–R186) on the sandbox igloohome lock, through the official SDK.

The lock never gets a call: it reads each PIN with its own key and clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from tests.api.test_external import _lock_pins
from tests.api.test_unmanaged import _lock
from tests.conftest import START, Harness


def _enter(server: Harness, seam: Seam, lock: str, pin: str) -> str:
    seam.locks.simulate.keypad_code_entry(device_id=lock, code=pin)
    server.settle()  # the engine records what the lock reported
    return str(seam.events.list(device_id=lock, since="2024-01-01T00:00:00Z")[-1].event_type)


def _at(server: Harness, instant: datetime) -> None:
    server.advance(instant - server.clock.now())


def test_hourly_offline_code_opens_exactly_in_its_rounded_window(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    code = seam.access_codes.create(
        device_id=lock,
        name="Guest",
        is_offline_access_code=True,
        starts_at="2025-01-01T10:15:00Z",
        ends_at="2025-01-01T15:40:00Z",
    )
    assert code.is_offline_access_code and code.status == "set"
    assert code.code is not None and len(code.code) == 10
    assert code.starts_at.startswith("2025-01-01T10:00:00")
    assert code.ends_at.startswith("2025-01-01T16:00:00")
    events = [
        e.event_type
        for e in seam.events.list(access_code_id=code.access_code_id, since="2024-01-01T00:00:00Z")
    ]
    assert events == ["access_code.created", "access_code.set_on_device"]
    server.settle()
    assert _lock_pins(server, lock) == []  # nothing was programmed

    _at(server, datetime(2025, 1, 1, 9, 59, tzinfo=UTC))
    assert _enter(server, seam, lock, code.code) == "lock.access_denied"
    _at(server, datetime(2025, 1, 1, 10, 0, tzinfo=UTC))
    assert _enter(server, seam, lock, code.code) == "lock.unlocked"
    assert (
        seam.events.list(device_id=lock, since="2024-01-01T00:00:00Z")[-1].access_code_id
        == code.access_code_id
    )
    _at(server, datetime(2025, 1, 1, 15, 59, tzinfo=UTC))
    assert _enter(server, seam, lock, code.code) == "lock.unlocked"
    _at(server, datetime(2025, 1, 1, 16, 0, tzinfo=UTC))
    assert _enter(server, seam, lock, code.code) == "lock.access_denied"
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)


def test_offline_codes_cannot_be_changed_or_deleted(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    code = seam.access_codes.create(
        device_id=lock,
        is_offline_access_code=True,
        starts_at="2025-01-02T10:00:00Z",
        ends_at="2025-01-02T12:00:00Z",
    )
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=code.access_code_id, name="new")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.delete(access_code_id=code.access_code_id)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_three_codes_per_window_then_no_variance_left(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    window = {"starts_at": "2025-01-03T08:00:00Z", "ends_at": "2025-01-03T20:00:00Z"}
    pins = {
        seam.access_codes.create(device_id=lock, is_offline_access_code=True, **window).code
        for _ in range(3)
    }
    assert len(pins) == 3
    with pytest.raises(SeamHttpInvalidInputError) as err:
        seam.access_codes.create(device_id=lock, is_offline_access_code=True, **window)
    assert "no_variance_available" in str(err.value)


def test_long_codes_need_daily_rounding_and_a_first_use_within_a_day(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    window = {"starts_at": "2025-01-05T14:00:00Z", "ends_at": "2025-02-20T10:00:00Z"}
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create(device_id=lock, is_offline_access_code=True, **window)
    used = seam.access_codes.create(
        device_id=lock, is_offline_access_code=True, max_time_rounding="1d", **window
    )
    late = seam.access_codes.create(
        device_id=lock, is_offline_access_code=True, max_time_rounding="1day", **window
    )
    assert used.starts_at.startswith("2025-01-05T00:00:00")
    assert used.ends_at.startswith("2025-02-21T00:00:00")
    assert [w["warning_code"] for w in used.warnings] == [
        "igloo_algopin_must_be_used_within_24_hours"
    ]
    _at(server, datetime(2025, 1, 5, 12, tzinfo=UTC))
    assert _enter(server, seam, lock, used.code or "") == "lock.unlocked"
    _at(server, datetime(2025, 1, 6, 12, tzinfo=UTC))
    # Used in time: still works.
    assert _enter(server, seam, lock, used.code or "") == "lock.unlocked"
    assert _enter(server, seam, lock, late.code or "") == "lock.access_denied"  # first use too late


def test_one_time_offline_code_works_once(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    code = seam.access_codes.create(
        device_id=lock,
        is_offline_access_code=True,
        is_one_time_use=True,
        starts_at="2025-01-04T09:30:00Z",
    )
    assert code.is_one_time_use and code.ends_at.startswith("2025-01-05T09:00:00")
    _at(server, datetime(2025, 1, 4, 18, tzinfo=UTC))
    assert _enter(server, seam, lock, code.code or "") == "lock.unlocked"
    assert _enter(server, seam, lock, code.code or "") == "lock.access_denied"
    # Kept on record until its end, so its PIN is not handed out again meanwhile.
    server.settle()
    assert seam.access_codes.get(access_code_id=code.access_code_id).code == code.code
    _at(server, datetime(2025, 1, 5, 9, tzinfo=UTC))
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)


def test_offline_requests_the_lock_cannot_serve(server: Harness) -> None:
    seam = server.seam()
    igloo, yale = _lock(seam, "igloohome_lock"), _lock(seam, "yale_lock")
    window = {"starts_at": "2025-01-03T08:00:00Z", "ends_at": "2025-01-03T20:00:00Z"}
    for bad in (
        {"device_id": yale, **window},  # no offline support
        {"device_id": igloo, "code": "1234567890"[:9], **window},  # the lock picks the PIN
        {"device_id": igloo, "ends_at": window["ends_at"]},  # no start
        {
            "device_id": igloo,
            "starts_at": "2024-12-01T00:00:00Z",
            "ends_at": "2024-12-02T00:00:00Z",
        },
    ):
        with pytest.raises(SeamHttpInvalidInputError):
            seam.access_codes.create(is_offline_access_code=True, **bad)
    assert datetime(2025, 1, 3, tzinfo=UTC) > START


def test_a_used_one_time_pin_is_never_issued_again(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    start = {"starts_at": "2025-01-04T09:00:00Z"}
    first = seam.access_codes.create(
        device_id=lock, is_offline_access_code=True, is_one_time_use=True, **start
    )
    _at(server, datetime(2025, 1, 4, 10, tzinfo=UTC))
    assert _enter(server, seam, lock, first.code or "") == "lock.unlocked"
    server.settle()
    second = seam.access_codes.create(
        device_id=lock, is_offline_access_code=True, is_one_time_use=True, **start
    )
    assert second.code != first.code
    assert _enter(server, seam, lock, second.code or "") == "lock.unlocked"


def test_offline_window_must_end_after_it_starts(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "igloohome_lock")
    for ends in ("2025-01-03T17:00:00Z", "2025-01-03T14:00:00Z"):
        with pytest.raises(SeamHttpInvalidInputError):
            seam.access_codes.create(
                device_id=lock,
                is_offline_access_code=True,
                starts_at="2025-01-03T17:00:00Z",
                ends_at=ends,
            )
    assert seam.access_codes.list(device_id=lock) == []
