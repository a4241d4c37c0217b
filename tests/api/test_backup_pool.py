"""The backup access code pool (R102–R105, R174–R178), through the official SDK."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from tests.api.test_external import _lock_pins
from tests.api.test_unmanaged import _all_events, _lock
from tests.conftest import Harness

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def test_pool_is_kept_on_the_lock_and_a_pull_hands_out_one_spare(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    stay = seam.access_codes.create(
        device_id=lock,
        code="4821",
        starts_at="2024-12-31T15:00:00Z",
        ends_at="2025-01-02T11:00:00Z",
        use_backup_access_code_pool=True,
    )
    server.settle()
    # Two spares were added; until one is on the lock the device says the pool is empty.
    assert "empty_backup_access_code_pool" in [
        e["error_code"] for e in seam.devices.get(device_id=lock).errors
    ]
    server.advance(SECOND)
    assert seam.devices.get(device_id=lock).errors == []
    assert len(_lock_pins(server, lock)) == 3  # the stay (loaded natively) and two spares
    # Members are hidden from lists (R99), but the stay can count on one (R177).
    assert [c.access_code_id for c in seam.access_codes.list(device_id=lock)] == [
        stay.access_code_id
    ]
    assert seam.access_codes.get(access_code_id=stay.access_code_id).is_backup_access_code_available

    server.advance(timedelta(hours=3))
    backup = seam.access_codes.pull_backup_access_code(access_code_id=stay.access_code_id)
    assert backup.is_backup is True and backup.code not in (None, "4821")
    assert backup.ends_at == seam.access_codes.get(access_code_id=stay.access_code_id).ends_at
    again = seam.access_codes.pull_backup_access_code(access_code_id=stay.access_code_id)
    assert again.access_code_id == backup.access_code_id
    assert _all_events(seam).count("access_code.backup_access_code_pulled") == 1
    original = seam.access_codes.get(access_code_id=stay.access_code_id)
    assert original.pulled_backup_access_code_id == backup.access_code_id
    assert "using_backup_access_code" in [w["warning_code"] for w in original.warnings]
    listed = {c.access_code_id for c in seam.access_codes.list(device_id=lock)}
    assert listed == {stay.access_code_id, backup.access_code_id}
    # It opens the door now, and the pool is topped up behind it.
    seam.locks.simulate.keypad_code_entry(device_id=lock, code=backup.code)
    server.settle()  # the engine records what the lock reported
    assert _all_events(seam)[-1] == "lock.unlocked"
    server.advance(SECOND)
    server.advance(SECOND)
    assert len(_lock_pins(server, lock)) == 4  # stay, pulled backup, two fresh spares

    # After the original's end the pulled backup leaves the lock and the records.
    server.advance(DAY * 2)
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=backup.access_code_id)
    assert backup.code not in _lock_pins(server, lock)
    assert len(_lock_pins(server, lock)) == 2


def test_pull_rules(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    ongoing = seam.access_codes.create(device_id=lock, code="1357")
    with pytest.raises(SeamHttpApiError) as err:
        seam.access_codes.pull_backup_access_code(access_code_id=ongoing.access_code_id)
    assert err.value.code == "access_code_not_time_bound"
    timed = seam.access_codes.create(
        device_id=lock,
        code="2468",
        starts_at="2025-01-05T00:00:00Z",
        ends_at="2025-01-06T00:00:00Z",
    )
    assert timed.is_backup_access_code_available is False
    with pytest.raises(SeamHttpInvalidInputError):  # pool never enabled on this lock
        seam.access_codes.pull_backup_access_code(access_code_id=timed.access_code_id)
    # The SDK's update() lacks this OAS parameter; send it through the SDK's client.
    seam.client.post(
        "/access_codes/update",
        json={"access_code_id": timed.access_code_id, "use_backup_access_code_pool": True},
    )
    # Enabled, but nothing is on the lock yet: empty, and said so.
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.pull_backup_access_code(access_code_id=timed.access_code_id)
    server.advance(SECOND)
    server.advance(SECOND)
    assert seam.access_codes.pull_backup_access_code(access_code_id=timed.access_code_id).is_backup
