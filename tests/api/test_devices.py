"""Devices, locks, sandbox simulations, workspaces, events and action attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from pinwarden.sandbox.models import LOCK_MODELS
from tests.conftest import Harness

SECOND = timedelta(seconds=1)


def test_sandbox_has_every_brand_model_with_its_constraints(server: Harness) -> None:
    seam = server.seam()
    devices = seam.devices.list()
    assert len(devices) == len(LOCK_MODELS) >= 6
    by_type = {d.device_type: d for d in devices}
    nuki = by_type["nuki_lock"].properties
    assert nuki.supported_code_lengths == [6]
    assert {c.constraint_type for c in nuki.code_constraints} == {
        "no_zeros",
        "cannot_start_with_12",
    }
    assert nuki.max_active_codes_supported == 200
    kwikset = by_type["kwikset_lock"].properties
    name_rule = next(c for c in kwikset.code_constraints if c.constraint_type == "name_length")
    assert (name_rule.min_length, name_rule.max_length) == (2, 14)
    for device in devices:
        assert device.can_program_online_access_codes is True
        assert "access_code" in device.capabilities_supported
    locks = seam.locks.list()
    assert {lock.device_id for lock in locks} == {d.device_id for d in devices}


def test_list_filters_and_get_by_name(server: Harness) -> None:
    seam = server.seam()
    assert [d.device_type for d in seam.devices.list(manufacturer="schlage")] == ["schlage_lock"]
    two = seam.devices.list(device_types=["yale_lock", "tedee_lock"])
    assert sorted(d.device_type for d in two) == ["tedee_lock", "yale_lock"]
    yale = two[0]
    assert seam.devices.list(device_ids=[yale.device_id])[0].device_id == yale.device_id
    assert seam.devices.get(name=yale.display_name).device_id == yale.device_id


def test_rename_and_custom_metadata(server: Harness) -> None:
    seam = server.seam()
    device = seam.devices.list()[0]
    seam.devices.update(device_id=device.device_id, name="Unit 4B", custom_metadata={"unit": "4B"})
    got = seam.devices.get(device_id=device.device_id)
    assert got.display_name == "Unit 4B" and got.custom_metadata == {"unit": "4B"}
    filtered = seam.devices.list(custom_metadata_has={"unit": "4B"})
    assert [d.device_id for d in filtered] == [device.device_id]


def test_disconnect_holds_codes_in_setting_and_connect_resumes(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="august_lock")[0]
    seam.devices.simulate.disconnect(device_id=lock.device_id)
    server.settle()  # the engine records what the lock reported
    away = seam.devices.get(device_id=lock.device_id)
    assert away.properties.online is False
    assert [e.error_code for e in away.errors] == ["device_offline"]
    code = seam.access_codes.create(device_id=lock.device_id, code="4821")
    server.advance(timedelta(minutes=5))
    stuck = seam.access_codes.get(access_code_id=code.access_code_id)
    assert stuck.status == "setting"
    assert [e.error_code for e in stuck.errors] == ["device_offline"]
    assert stuck.errors[0].is_device_error is True
    seam.devices.simulate.connect(device_id=lock.device_id)
    server.settle()  # the engine records what the lock reported
    server.advance(SECOND)
    healed = seam.access_codes.get(access_code_id=code.access_code_id)
    assert (healed.status, healed.errors) == ("set", [])
    types = [
        e.event_type
        for e in seam.events.list(device_id=lock.device_id, since="2024-01-01T00:00:00Z")
    ]
    assert types[0] == "device.disconnected" and "device.connected" in types
    disconnected = seam.events.list(
        device_id=lock.device_id, event_type="device.disconnected", since="2024-01-01T00:00:00Z"
    )
    assert [e.error_code for e in disconnected] == ["device_disconnected"]
    assert seam.devices.get(device_id=lock.device_id).errors == []


def test_remove_takes_the_device_and_its_codes_away(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0]
    code = seam.access_codes.create(device_id=lock.device_id)
    seam.devices.simulate.remove(device_id=lock.device_id)
    with pytest.raises(SeamHttpApiError):
        seam.devices.get(device_id=lock.device_id)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)
    assert seam.events.get(event_type="device.removed").device_id == lock.device_id


def test_simulations_and_reset_are_for_sandbox_workspaces_only(server: Harness) -> None:
    _, key = server.workspace(sandbox=False)
    seam = server.seam(key)
    assert seam.workspaces.get().is_sandbox is False
    assert seam.devices.list() == []
    with pytest.raises(SeamHttpInvalidInputError):
        seam.workspaces.reset_sandbox()


def test_reset_sandbox_restores_the_seeded_locks(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list()[0]
    seam.access_codes.create(device_id=lock.device_id)
    attempt = seam.workspaces.reset_sandbox()
    assert (attempt.action_type, attempt.status) == ("RESET_SANDBOX_WORKSPACE", "success")
    devices = seam.devices.list()
    assert len(devices) == len(LOCK_MODELS)
    assert lock.device_id not in {d.device_id for d in devices}
    assert seam.events.list(since="2024-01-01T00:00:00Z") == []


def test_event_filters_and_windows(server: Harness) -> None:
    seam = server.seam()
    locks = seam.devices.list(device_type="august_lock") + seam.devices.list(
        device_type="yale_lock"
    )
    a = seam.access_codes.create(device_id=locks[0].device_id, code="4821")
    server.advance(SECOND)
    server.advance(SECOND)
    b = seam.access_codes.create(device_id=locks[1].device_id, code="5930")
    server.advance(SECOND)
    everything = seam.events.list(since="2024-01-01T00:00:00Z")
    assert [e.event_type for e in everything] == [
        "access_code.created",
        "access_code.set_on_device",
        "access_code.created",
        "access_code.set_on_device",
    ]
    assert {
        e.access_code_id
        for e in seam.events.list(access_code_id=b.access_code_id, since="2024-01-01T00:00:00Z")
    } == {b.access_code_id}
    assert len(seam.events.list(device_ids=[locks[0].device_id], since="2024-01-01T00:00:00Z")) == 2
    assert (
        len(seam.events.list(event_type="access_code.set_on_device", since="2024-01-01T00:00:00Z"))
        == 2
    )
    created_at = everything[1].created_at
    later = seam.events.list(since=created_at)
    assert [e.access_code_id for e in later] == [b.access_code_id, b.access_code_id]
    inside = seam.events.list(between=["2024-01-01T00:00:00Z", created_at])
    assert [e.access_code_id for e in inside] == [a.access_code_id]
    assert len(seam.events.list(since="2024-01-01T00:00:00Z", limit=1)) == 1
    latest = seam.events.get(device_id=locks[1].device_id)
    assert latest.event_type == "access_code.set_on_device" and latest.code == "5930"
    assert seam.events.get(event_id=everything[0].event_id).event_id == everything[0].event_id


def test_action_attempts_list(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list()[0]
    seam.access_codes.create(device_id=lock.device_id)
    seam.access_codes.create(device_id=lock.device_id)
    attempts = seam.action_attempts.list()
    assert len(attempts) == 2 and {a.action_type for a in attempts} == {"CREATE_ACCESS_CODE"}
    assert len(seam.action_attempts.list(device_id=lock.device_id, limit=1)) == 1
