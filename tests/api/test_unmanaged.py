"""Unmanaged codes (R108–R113, R187–R189, R85) and one-time-use codes (T20), through the SDK."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seam import Seam
from seam.exceptions import (
    SeamActionAttemptFailedError,
    SeamHttpApiError,
    SeamHttpInvalidInputError,
)

from pinwarden.sandbox.lock import edit_at_keypad
from tests.api.test_external import _change, _events, _lock_pins
from tests.conftest import Harness
from tests.sandbox import lock_id

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def _lock(seam: Seam, device_type: str = "yale_lock") -> str:
    return str(seam.devices.list(device_type=device_type)[0].device_id)


def _all_events(seam: Seam) -> list[str]:
    return [e.event_type for e in seam.events.list(since="2024-01-01T00:00:00Z")]


def test_simulated_keypad_pin_is_listed_and_never_overwritten(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    found = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Cleaner", code="7319"
    )
    assert found.is_managed is False and found.status == "set" and found.code == "7319"
    server.advance(SECOND)
    listed = seam.access_codes.unmanaged.list(device_id=lock)
    assert [c.access_code_id for c in listed] == [found.access_code_id]
    assert seam.access_codes.unmanaged.get(device_id=lock, code="7319").name == "Cleaner"
    # Managed lists and gets do not show it (R96, R99).
    assert seam.access_codes.list(device_id=lock) == []
    with pytest.raises(SeamHttpApiError) as err:
        seam.access_codes.get(access_code_id=found.access_code_id)
    assert err.value.code == "access_code_not_found"
    # Many managed codes later, the unmanaged PIN is still on the lock, untouched.
    for pin in ("1111", "2222", "3333"):
        seam.access_codes.create(device_id=lock, code=pin)
    server.advance(SECOND)
    assert sorted(p for p in _lock_pins(server, lock) if p) == ["1111", "2222", "3333", "7319"]
    assert _all_events(seam).count("access_code.unmanaged.created") == 1


def test_pin_added_at_the_lock_is_discovered_by_the_drift_check(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    address = lock_id(server.service.db, lock)
    managed = seam.access_codes.create(device_id=lock, code="4821")
    server.advance(SECOND)
    # Someone edits our slot (a modification) and, separately, programs a new PIN,
    # without pinwarden being told.
    _change(seam, managed.access_code_id, code="9999")
    with server.service.db.write() as session:
        edit_at_keypad(
            session, address, 200, "6060", server.clock.now(), name="Handyman", tell=False
        )
    server.advance(HOUR)
    server.advance(SECOND)
    # Our slot holds our PIN again; the edit was not mistaken for an unmanaged code.
    assert sorted(p for p in _lock_pins(server, lock) if p) == ["4821", "6060"]
    found = seam.access_codes.unmanaged.list(device_id=lock)
    assert [(c.code, c.name) for c in found] == [("6060", "Handyman")]
    assert "access_code.modified_external_to_seam" in _events(seam, managed.access_code_id)
    assert _events(seam, found[0].access_code_id) == ["access_code.unmanaged.created"]
    # Removed at the lock: the record goes too.
    with server.service.db.write() as session:
        edit_at_keypad(session, address, 200, None, server.clock.now(), tell=False)
    server.advance(HOUR)
    assert seam.access_codes.unmanaged.list(device_id=lock) == []
    assert "access_code.unmanaged.removed" in _events(seam, found[0].access_code_id)


def test_duplicate_with_an_unmanaged_pin_is_reported_until_converted(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Old code", code="5550"
    )
    server.advance(SECOND)
    clash = seam.access_codes.create(device_id=lock, code="5550", name="Guest")
    server.advance(SECOND)
    got = seam.access_codes.get(access_code_id=clash.access_code_id)
    assert got.status == "setting"
    assert "duplicate_code_on_device" in [e["error_code"] for e in got.errors]
    # Converting the clashing unmanaged code is refused while the managed one wants it…
    with pytest.raises(SeamHttpApiError) as err:
        seam.access_codes.unmanaged.convert_to_managed(access_code_id=foreign.access_code_id)
    assert err.value.code == "duplicate_access_code"
    # …and deleting it clears the way (R150's remedy).
    seam.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id)
    server.advance(SECOND)
    server.advance(SECOND)
    assert seam.access_codes.unmanaged.list(device_id=lock) == []
    got = seam.access_codes.get(access_code_id=clash.access_code_id)
    assert got.status == "set" and got.errors == []
    assert _lock_pins(server, lock) == ["5550"]
    events = _all_events(seam)
    assert events.count("access_code.unmanaged.removed") == 1


def test_convert_to_managed_keeps_id_and_slot_and_restores_edits(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Resident", code="2468"
    )
    server.advance(SECOND)
    seam.access_codes.unmanaged.convert_to_managed(access_code_id=foreign.access_code_id)
    server.advance(SECOND)
    code = seam.access_codes.get(access_code_id=foreign.access_code_id)
    assert (code.status, code.code, code.name, code.is_managed) == (
        "set",
        "2468",
        "Resident",
        True,
    )
    assert code.is_external_modification_allowed is False
    assert seam.access_codes.unmanaged.list(device_id=lock) == []
    assert _lock_pins(server, lock) == ["2468"]  # no second copy was programmed
    assert "access_code.unmanaged.converted_to_managed" in _events(seam, foreign.access_code_id)
    # Now managed: an edit at the lock is put back (R189).
    _change(seam, foreign.access_code_id, code="1357")
    server.advance(HOUR)
    server.advance(SECOND)
    assert _lock_pins(server, lock) == ["2468"]


def test_unmanaged_update_converts_and_refuses_is_managed_false(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Resident", code="2468"
    )
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.unmanaged.update(access_code_id=foreign.access_code_id, is_managed=False)
    seam.access_codes.unmanaged.update(
        access_code_id=foreign.access_code_id,
        is_managed=True,
        is_external_modification_allowed=True,
    )
    code = seam.access_codes.get(access_code_id=foreign.access_code_id)
    assert code.is_external_modification_allowed is True


def test_release_with_is_managed_false_leaves_the_pin_on_the_lock(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    code = seam.access_codes.create(device_id=lock, code="8642", name="Tenant")
    # Not on the lock yet: nothing to release.
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=code.access_code_id, is_managed=False)
    server.advance(SECOND)
    seam.access_codes.update(access_code_id=code.access_code_id, is_managed=False)
    server.advance(HOUR)
    assert seam.access_codes.list(device_id=lock) == []
    released = seam.access_codes.unmanaged.get(access_code_id=code.access_code_id)
    assert (released.code, released.name, released.is_managed) == ("8642", "Tenant", False)
    assert _lock_pins(server, lock) == ["8642"]


def test_unmanaged_delete_is_idempotent_and_removes_the_pin(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Old", code="9753"
    )
    seam.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id)
    seam.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id)
    server.advance(SECOND)
    server.advance(SECOND)
    assert _lock_pins(server, lock) == []
    # A replay after it is gone is answered with the same attempt, not a 404.
    seam.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.unmanaged.get(access_code_id=foreign.access_code_id)


def test_brand_rules_for_unmanaged_codes(server: Harness) -> None:
    seam = server.seam()
    kwikset = _lock(seam, "kwikset_lock")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.simulate.create_unmanaged_access_code(
            device_id=kwikset, name="x", code="1234"
        )
    assert seam.access_codes.unmanaged.list(device_id=kwikset) == []
    igloo = _lock(seam, "igloohome_lock")
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=igloo, name="Gate", code="864213"
    )
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.unmanaged.convert_to_managed(access_code_id=foreign.access_code_id)
    # Sandbox-only, and PINs of 4–8 digits only.
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.simulate.create_unmanaged_access_code(
            device_id=_lock(seam), name="x", code="123456789"
        )
    production = server.seam(server.workspace(sandbox=False)[1])
    with pytest.raises(SeamHttpApiError):
        production.access_codes.simulate.create_unmanaged_access_code(
            device_id=igloo, name="x", code="1234"
        )


def test_unmanaged_codes_are_private_to_their_workspace(server: Harness) -> None:
    seam, other = server.seam(), server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="x", code="2580"
    )
    for call in (
        lambda: other.access_codes.unmanaged.get(access_code_id=foreign.access_code_id),
        lambda: other.access_codes.unmanaged.list(device_id=lock),
        lambda: other.access_codes.unmanaged.convert_to_managed(
            access_code_id=foreign.access_code_id
        ),
        lambda: other.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id),
    ):
        with pytest.raises(SeamHttpApiError) as err:
            call()
        assert err.value.status_code == 404
    assert seam.access_codes.unmanaged.get(access_code_id=foreign.access_code_id).code == "2580"


def test_one_time_code_is_removed_after_its_first_use(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    code = seam.access_codes.create(device_id=lock, code="3141", is_one_time_use=True)
    assert code.is_one_time_use is True
    server.advance(SECOND)
    seam.locks.simulate.keypad_code_entry(device_id=lock, code="3141")
    server.settle()  # the engine records what the lock reported
    got = seam.access_codes.get(access_code_id=code.access_code_id)
    assert got.status == "removing"
    server.advance(SECOND)
    server.advance(SECOND)
    assert _lock_pins(server, lock) == []
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)
    seam.locks.simulate.keypad_code_entry(device_id=lock, code="3141")
    server.settle()  # the engine records what the lock reported
    events = _all_events(seam)
    assert events.count("lock.unlocked") == 1
    assert events.count("lock.access_denied") == 1
    assert "access_code.removed_from_device" in events


def test_a_refused_unmanaged_removal_fails_its_attempt_and_can_be_asked_again(
    server: Harness,
) -> None:
    seam = server.seam()
    lock = _lock(seam)
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Old", code="9753"
    )
    seam.client.post("/devices/simulate/faults", json={"device_id": lock, "reject_rate": 1.0})
    refused = seam.client.post(
        "/access_codes/unmanaged/delete", json={"access_code_id": foreign.access_code_id}
    )["action_attempt"]
    server.advance(SECOND)
    with pytest.raises(SeamActionAttemptFailedError) as failed:
        seam.action_attempts.get(action_attempt_id=refused["action_attempt_id"])
    assert failed.value.action_attempt.error.type == "failed_to_remove_from_device"
    assert _lock_pins(server, lock) == ["9753"]
    seam.client.post("/devices/simulate/faults", json={"device_id": lock, "reject_rate": None})
    seam.access_codes.unmanaged.delete(access_code_id=foreign.access_code_id)
    server.advance(SECOND)
    server.advance(SECOND)
    assert _lock_pins(server, lock) == []
    assert seam.access_codes.unmanaged.list(device_id=lock) == []


def test_external_modification_flag_on_update_and_convert(server: Harness) -> None:
    """R148: settable on update and convert_to_managed, under either name."""
    seam = server.seam()
    lock = _lock(seam)
    code = seam.access_codes.create(device_id=lock, code="4821")
    seam.access_codes.update(access_code_id=code.access_code_id, allow_external_modification=True)
    assert seam.access_codes.get(
        access_code_id=code.access_code_id
    ).is_external_modification_allowed
    foreign = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Owner", code="2468"
    )
    seam.access_codes.unmanaged.convert_to_managed(
        access_code_id=foreign.access_code_id, allow_external_modification=True
    )
    adopted = seam.access_codes.get(access_code_id=foreign.access_code_id)
    assert adopted.is_external_modification_allowed is True
