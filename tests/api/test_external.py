"""Codes changed or deleted at the lock itself (R145–R148), noticed by the drift check."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError

from pinwarden.devices.driver import DeviceRef
from tests.conftest import Harness

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def _set_code(server: Harness, seam: Seam, allowed: bool) -> tuple[str, str]:
    lock = str(seam.devices.list(device_type="yale_lock")[0].device_id)
    code = seam.access_codes.create(
        device_id=lock, code="4821", is_external_modification_allowed=allowed
    )
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
    return lock, code.access_code_id


def _lock_pins(server: Harness, device_id: str) -> list[str | None]:
    driver = server.service.reconciler.drivers["simulated"]
    model = "yale_assure_lock_2"
    slots = asyncio.run(driver.read_slots(DeviceRef(device_id, model, None)))
    return [s.code for s in slots]


def _change(seam: Seam, access_code_id: str, **change: object) -> None:
    seam.client.post(
        "/access_codes/simulate/change_at_lock", json={"access_code_id": access_code_id, **change}
    )


def _events(seam: Seam, access_code_id: str) -> list[str]:
    return [
        e.event_type
        for e in seam.events.list(access_code_id=access_code_id, since="2024-01-01T00:00:00Z")
    ]


@pytest.mark.parametrize(
    ("change", "event"),
    [
        ({"code": "9999"}, "modified_external_to_seam"),
        ({"remove": True}, "deleted_external_to_seam"),
    ],
)
def test_change_at_the_lock_is_reported_and_undone(
    server: Harness, change: dict[str, object], event: str
) -> None:
    seam = server.seam()
    lock, cid = _set_code(server, seam, allowed=False)
    _change(seam, cid, **change)
    server.advance(HOUR)  # the periodic drift check reads the lock
    seen = seam.access_codes.get(access_code_id=cid)
    assert seen.status == "setting"
    assert [e.error_code for e in seen.errors] == ["code_modified_external_to_seam"]
    assert _events(seam, cid)[-1] == f"access_code.{event}"
    server.advance(SECOND)
    restored = seam.access_codes.get(access_code_id=cid)
    assert (restored.status, restored.code, restored.errors) == ("set", "4821", [])
    assert _lock_pins(server, lock) == ["4821"]


def test_allowed_edit_at_the_lock_is_kept(server: Harness) -> None:
    seam = server.seam()
    lock, cid = _set_code(server, seam, allowed=True)
    _change(seam, cid, code="9999")
    server.advance(HOUR)
    kept = seam.access_codes.get(access_code_id=cid)
    assert (kept.status, kept.code) == ("set", "9999")
    assert [w.warning_code for w in kept.warnings] == ["code_modified_external_to_seam"]
    assert _events(seam, cid)[-1] == "access_code.modified_external_to_seam"
    server.advance(HOUR)
    assert _lock_pins(server, lock) == ["9999"]


def test_allowed_delete_at_the_lock_forgets_the_code(server: Harness) -> None:
    seam = server.seam()
    _lock, cid = _set_code(server, seam, allowed=True)
    _change(seam, cid, remove=True)
    server.advance(HOUR)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=cid)
    assert _events(seam, cid)[-1] == "access_code.deleted_external_to_seam"


def test_change_at_lock_is_sandbox_only_and_needs_a_code_on_the_lock(server: Harness) -> None:
    seam = server.seam()
    lock = str(seam.devices.list(device_type="yale_lock")[0].device_id)
    code = seam.access_codes.create(device_id=lock, code="4821")
    with pytest.raises(SeamHttpApiError):
        _change(seam, code.access_code_id, code="9999")  # not on the lock yet
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError):
        _change(seam, code.access_code_id)  # neither a code nor remove


def test_keypad_entry_unlocks_with_a_set_code_and_denies_others(server: Harness) -> None:
    seam = server.seam()
    lock, cid = _set_code(server, seam, allowed=False)
    attempt = seam.locks.simulate.keypad_code_entry(device_id=lock, code="4821")
    assert (attempt.action_type, attempt.status) == ("SIMULATE_KEYPAD_CODE_ENTRY", "success")
    unlocked = seam.events.get(event_type="lock.unlocked")
    assert (unlocked.access_code_id, unlocked.method) == (cid, "keycode")
    assert seam.devices.get(device_id=lock).properties.locked is False
    seam.locks.simulate.keypad_code_entry(device_id=lock, code="1357")
    assert seam.events.get(device_id=lock).event_type == "lock.access_denied"
    seam.locks.simulate.manual_lock_via_keypad(device_id=lock)
    assert seam.events.get(device_id=lock).event_type == "lock.locked"
    assert seam.devices.get(device_id=lock).properties.locked is True


def test_a_preloaded_code_opens_only_inside_its_window(server: Harness) -> None:
    seam = server.seam()
    lock = str(seam.devices.list(device_type="yale_lock")[0].device_id)
    code = seam.access_codes.create(
        device_id=lock,
        code="5930",
        starts_at="2025-01-01T16:00:00Z",
        ends_at="2025-01-02T16:00:00Z",
    )
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).is_scheduled_on_device
    seam.locks.simulate.keypad_code_entry(device_id=lock, code="5930")
    assert seam.events.get(device_id=lock).event_type == "lock.access_denied"
    server.clock.set(server.clock.now().replace(year=2025, month=1, day=1, hour=16, minute=0))
    server.settle()
    seam.locks.simulate.keypad_code_entry(device_id=lock, code="5930")
    assert seam.events.get(device_id=lock).event_type == "lock.unlocked"
