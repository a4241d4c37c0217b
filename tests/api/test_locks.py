"""locks/lock_door and locks/unlock_door through the official SDK over real HTTP."""

from __future__ import annotations

import pytest
from seam.exceptions import SeamActionAttemptFailedError, SeamHttpApiError

from pinwarden.store.tables import Device
from tests.conftest import Harness

SINCE = "2024-01-01T00:00:00Z"


def test_lock_and_unlock_resolve_and_the_device_and_events_follow(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0]
    assert lock.can_remotely_lock and lock.can_remotely_unlock

    unlocked = seam.locks.unlock_door(device_id=lock.device_id)
    assert (unlocked.action_type, unlocked.status) == ("UNLOCK_DOOR", "success")
    assert seam.locks.get(device_id=lock.device_id).properties.locked is False

    locked = seam.locks.lock_door(device_id=lock.device_id)
    assert (locked.action_type, locked.status) == ("LOCK_DOOR", "success")
    assert seam.devices.get(device_id=lock.device_id).properties.locked is True
    got = seam.action_attempts.get(action_attempt_id=locked.action_attempt_id)
    assert (got.status, got.error) == ("success", None)

    server.settle()
    events = seam.events.list(device_id=lock.device_id, since=SINCE)
    assert [(e.event_type, e.method, e.action_attempt_id) for e in events] == [
        ("lock.unlocked", "seamapi", unlocked.action_attempt_id),
        ("lock.locked", "seamapi", locked.action_attempt_id),
    ]


def test_the_request_answers_pending_and_the_engine_finishes_it(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="august_lock")[0]
    raw = seam.client.post("/locks/lock_door", json={"device_id": lock.device_id, "sync": True})
    attempt = raw["action_attempt"]
    assert attempt["action_type"] == "LOCK_DOOR" and attempt["status"] == "pending"
    assert (attempt["result"], attempt["error"]) == (None, None)
    server.settle()
    done = seam.action_attempts.get(action_attempt_id=attempt["action_attempt_id"])
    assert done.status == "success"


def test_an_offline_lock_fails_the_attempt_promptly_with_a_clear_error(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="schlage_lock")[0]
    seam.devices.simulate.disconnect(device_id=lock.device_id)
    server.settle()
    with pytest.raises(SeamActionAttemptFailedError) as failed:
        seam.locks.unlock_door(device_id=lock.device_id)
    assert failed.value.code == "device_offline"
    assert "Could not unlock the door" in str(failed.value) and "offline" in str(failed.value)
    assert seam.devices.get(device_id=lock.device_id).properties.locked is True
    server.settle()
    assert [e.event_type for e in seam.events.list(device_id=lock.device_id, since=SINCE)] == [
        "device.disconnected"
    ]


def test_another_workspaces_lock_is_not_found(server: Harness) -> None:
    alice, bob = server.seam(), server.seam()
    lock = alice.devices.list()[0]
    for command in (bob.locks.lock_door, bob.locks.unlock_door):
        with pytest.raises(SeamHttpApiError) as missing:
            command(device_id=lock.device_id)
        assert (missing.value.status_code, missing.value.code) == (404, "device_not_found")
    assert bob.action_attempts.list() == [] and alice.action_attempts.list() == []


def test_a_lock_that_cannot_be_locked_remotely_is_refused(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="tedee_lock")[0]
    with server.service.db.write() as session:
        device = session.get(Device, lock.device_id)
        assert device is not None
        device.capabilities = {**device.capabilities, "can_lock": False}
    assert seam.devices.get(device_id=lock.device_id).can_remotely_lock is False
    with pytest.raises(SeamHttpApiError) as refused:
        seam.locks.lock_door(device_id=lock.device_id)
    assert (refused.value.status_code, refused.value.code) == (400, "remote_lock_not_supported")
    assert "cannot be locked remotely" in str(refused.value)
    assert seam.action_attempts.list() == []
    # Unlocking is a capability of its own.
    assert seam.locks.unlock_door(device_id=lock.device_id).status == "success"


def test_a_lock_behind_a_disconnected_account_fails_without_being_asked(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0]
    seam.client.post(
        "/connected_accounts/simulate/disconnect",
        json={"connected_account_id": lock.connected_account_id},
    )
    with pytest.raises(SeamActionAttemptFailedError) as failed:
        seam.locks.lock_door(device_id=lock.device_id)
    assert failed.value.code == "account_disconnected"
    assert "connected through is disconnected" in str(failed.value)
