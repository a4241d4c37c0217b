"""Every Python flow of the four seed documents, through the official SDK over HTTP.

The fake clock starts on 2024-12-31, so the seeds' own dates work as written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError

from tests.conftest import Harness

SECOND = timedelta(seconds=1)


def august(seam: Seam) -> str:
    return str(seam.devices.list(device_type="august_lock")[0].device_id)


def test_capability_check_before_creating(server: Harness) -> None:
    """Seed 001, step 1: the lock says it supports access codes."""
    seam = server.seam()
    device_id = august(seam)
    lock = seam.locks.get(device_id=device_id)
    assert "access_code" in lock.capabilities_supported
    assert lock.can_program_online_access_codes is True
    assert seam.devices.get(device_id=device_id).device_id == device_id


def test_create_ongoing_code_and_poll_until_set(server: Harness) -> None:
    """Seed 001 "ongoing code" and seed 000 "verify by polling"."""
    seam = server.seam()
    device_id = august(seam)
    created = seam.access_codes.create(device_id=device_id, name="my ongoing code", code="1234")
    assert created.type == "ongoing"
    assert created.code == "1234"
    assert created.status == "setting"
    assert created.starts_at is None and created.ends_at is None
    assert created.errors == [] and created.warnings == []
    assert created.is_managed is True
    assert created.is_external_modification_allowed is False
    assert created.is_scheduled_on_device is None
    server.settle()
    assert seam.access_codes.get(access_code_id=created.access_code_id).status == "setting"
    server.advance(SECOND)
    got = seam.access_codes.get(access_code_id=created.access_code_id)
    assert got.status == "set"
    # Seed 000 "verify with webhooks": the same facts are in the event stream.
    events = seam.events.list(access_code_id=created.access_code_id, since="2024-01-01T00:00:00Z")
    assert [e.event_type for e in events] == ["access_code.created", "access_code.set_on_device"]


def test_create_time_bound_code_natively_scheduled_then_removed(server: Harness) -> None:
    """Seed 001 "time-bound code" on a lock that schedules natively: loaded up to 72 h
    ahead (``is_scheduled_on_device``), ``unset`` until ``starts_at``, ``set`` inside the
    window, removed after it."""
    seam = server.seam()
    device_id = august(seam)
    created = seam.access_codes.create(
        device_id=device_id,
        name="my time-bound code",
        starts_at="2025-01-01T16:00:00Z",
        ends_at="2025-01-22T12:00:00Z",
        code="2345",
    )
    assert created.type == "time_bound"
    assert created.status == "unset"
    assert created.starts_at == "2025-01-01T16:00:00.000Z"
    assert created.ends_at == "2025-01-22T12:00:00.000Z"
    assert created.is_scheduled_on_device is False
    server.advance(SECOND)  # starts in 28 h: inside the 72 h preload window
    loaded = seam.access_codes.get(access_code_id=created.access_code_id)
    assert (loaded.status, loaded.is_scheduled_on_device) == ("unset", True)
    server.clock.set(datetime(2025, 1, 1, 16, 0, tzinfo=UTC))
    server.settle()
    assert seam.access_codes.get(access_code_id=created.access_code_id).status == "set"
    server.clock.set(datetime(2025, 1, 22, 12, 0, tzinfo=UTC))
    server.settle()
    assert seam.access_codes.get(access_code_id=created.access_code_id).status == "removing"
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.get(access_code_id=created.access_code_id)
    assert info.value.code == "access_code_not_found"
    assert info.value.status_code == 404
    types = [
        e.event_type
        for e in seam.events.list(
            access_code_id=created.access_code_id, since="2024-01-01T00:00:00Z"
        )
    ]
    assert types == [
        "access_code.created",
        "access_code.scheduled_on_device",
        "access_code.set_on_device",
        "access_code.removed_from_device",
    ]


def test_create_time_bound_code_just_in_time(server: Harness) -> None:
    """The same flow on a lock without native scheduling: programmed an hour ahead."""
    seam = server.seam()
    device_id = str(seam.devices.list(device_type="smartthings_lock")[0].device_id)
    created = seam.access_codes.create(
        device_id=device_id,
        name="my time-bound code",
        starts_at="2025-01-01T16:00:00Z",
        ends_at="2025-01-22T12:00:00Z",
        code="2345",
    )
    assert (created.status, created.is_scheduled_on_device) == ("unset", False)
    server.settle()
    server.clock.set(datetime(2025, 1, 1, 14, 59, tzinfo=UTC))
    server.settle()
    assert seam.access_codes.get(access_code_id=created.access_code_id).status == "unset"
    server.clock.set(datetime(2025, 1, 1, 15, 0, tzinfo=UTC))  # one hour ahead of starts_at
    server.settle()
    assert seam.access_codes.get(access_code_id=created.access_code_id).status == "setting"
    server.advance(SECOND)
    got = seam.access_codes.get(access_code_id=created.access_code_id)
    assert (got.status, got.is_scheduled_on_device) == ("set", False)
    server.clock.set(datetime(2025, 1, 22, 12, 0, tzinfo=UTC))
    server.settle()
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=created.access_code_id)


def test_update_name_code_and_window(server: Harness) -> None:
    """Seed 000 step 1: one update call changes name, code and window."""
    seam = server.seam()
    device_id = august(seam)
    code = seam.access_codes.create(device_id=device_id, name="original", code="1111")
    server.advance(SECOND)
    result = seam.access_codes.update(
        access_code_id=code.access_code_id,
        name="my updated code name",
        code="5432",
        starts_at="2025-02-01T16:00:00Z",
        ends_at="2025-02-22T12:00:00Z",
    )
    assert result is None
    got = seam.access_codes.get(access_code_id=code.access_code_id)
    assert (got.name, got.code, got.type) == ("my updated code name", "5432", "time_bound")
    assert got.starts_at == "2025-02-01T16:00:00.000Z"
    assert got.ends_at == "2025-02-22T12:00:00.000Z"
    # The window is a month away: the old PIN comes off the lock until then.
    server.settle()
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "unset"
    # A month later the lock loads it with its schedule 72 h ahead, and it turns set at
    # starts_at.
    server.clock.set(datetime(2025, 1, 29, 16, 0, tzinfo=UTC))
    server.settle()
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).is_scheduled_on_device
    server.clock.set(datetime(2025, 2, 1, 16, 0, tzinfo=UTC))
    server.settle()
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_special_case_1_ongoing_to_time_bound(server: Harness) -> None:
    """Seed 000 special case 1."""
    seam = server.seam()
    code = seam.access_codes.create(device_id=august(seam), code="8642")
    assert seam.access_codes.get(access_code_id=code.access_code_id).type == "ongoing"
    seam.access_codes.update(
        access_code_id=code.access_code_id,
        starts_at="2025-01-01T16:00:00Z",
        ends_at="2025-01-22T12:00:00Z",
    )
    got = seam.access_codes.get(access_code_id=code.access_code_id)
    assert got.type == "time_bound"
    assert got.starts_at == "2025-01-01T16:00:00.000Z"
    assert got.ends_at == "2025-01-22T12:00:00.000Z"


def test_special_case_2_time_bound_to_ongoing(server: Harness) -> None:
    """Seed 000 special case 2."""
    seam = server.seam()
    code = seam.access_codes.create(
        device_id=august(seam),
        code="8642",
        starts_at="2025-01-01T16:00:00Z",
        ends_at="2025-01-22T12:00:00Z",
    )
    assert seam.access_codes.get(access_code_id=code.access_code_id).type == "time_bound"
    seam.access_codes.update(access_code_id=code.access_code_id, type="ongoing")
    got = seam.access_codes.get(access_code_id=code.access_code_id)
    assert got.type == "ongoing"
    assert got.starts_at is None and got.ends_at is None
    server.settle()
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_retrieve_by_device_by_ids_and_by_id(server: Harness) -> None:
    """Seed 003: list for a device, list by ids, get one."""
    seam = server.seam()
    device_id = august(seam)
    made = [
        seam.access_codes.create(device_id=device_id, name=f"guest {i}", code=f"{4000 + i * 111}")
        for i in range(3)
    ]
    listed = seam.access_codes.list(device_id=device_id)
    assert sorted(c.access_code_id for c in listed) == sorted(c.access_code_id for c in made)
    assert all(c.device_id == device_id for c in listed)
    ids = [made[0].access_code_id, made[2].access_code_id]
    by_ids = seam.access_codes.list(access_code_ids=ids)
    assert sorted(c.access_code_id for c in by_ids) == sorted(ids)
    one = seam.access_codes.get(access_code_id=made[1].access_code_id)
    assert one.name == "guest 1" and one.code == "4111"
    by_pin = seam.access_codes.get(device_id=device_id, code="4222")
    assert by_pin.access_code_id == made[2].access_code_id


def test_access_code_object_carries_every_documented_field(server: Harness) -> None:
    """Seed 002: the object reference."""
    seam = server.seam()
    code = seam.access_codes.create(device_id=august(seam), name="fields", code="9182")
    raw = seam.client.get("/access_codes/get", params={"access_code_id": code.access_code_id})
    body = raw["access_code"]
    for key in (
        "workspace_id",
        "common_code_key",
        "type",
        "access_code_id",
        "device_id",
        "name",
        "code",
        "created_at",
        "errors",
        "warnings",
        "is_managed",
        "status",
        "is_backup_access_code_available",
        "is_external_modification_allowed",
        "is_one_time_use",
        "is_offline_access_code",
        "starts_at",
        "ends_at",
        "is_scheduled_on_device",
        "is_waiting_for_code_assignment",
        "pulled_backup_access_code_id",
        "is_backup",
    ):
        assert key in body, key
    assert raw["ok"] is True


def test_delete_never_programmed_code_is_gone_at_once(server: Harness) -> None:
    """Deleting guide: a code that never reached the lock has no removal step."""
    seam = server.seam()
    code = seam.access_codes.create(
        device_id=august(seam),
        code="5821",
        starts_at="2025-03-01T00:00:00Z",
        ends_at="2025-03-02T00:00:00Z",
    )
    server.settle()
    seam.access_codes.delete(access_code_id=code.access_code_id)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)
    types = [
        e.event_type
        for e in seam.events.list(access_code_id=code.access_code_id, since="2024-01-01T00:00:00Z")
    ]
    assert types == ["access_code.created", "access_code.deleted"]
    # The SDK retries DELETE on timeouts and 5xx: a replay answers the same attempt.
    replay = seam.client.delete(
        "/access_codes/delete", params={"access_code_id": code.access_code_id}
    )
    assert replay["action_attempt"]["status"] == "success"


def test_delete_set_code_goes_through_removing(server: Harness) -> None:
    seam = server.seam()
    code = seam.access_codes.create(device_id=august(seam), code="5821")
    server.advance(SECOND)
    seam.access_codes.delete(access_code_id=code.access_code_id)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "removing"
    # The SDK retries DELETE: a second delete is harmless and answers the same attempt.
    again = seam.client.delete(
        "/access_codes/delete", params={"access_code_id": code.access_code_id}
    )
    assert again["action_attempt"]["action_type"] == "DELETE_ACCESS_CODE"
    server.settle()
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=code.access_code_id)
    attempt = seam.action_attempts.get(
        action_attempt_id=again["action_attempt"]["action_attempt_id"]
    )
    assert attempt.status == "success"


def test_create_returns_a_pending_action_attempt_that_succeeds_once_set(server: Harness) -> None:
    seam = server.seam()
    raw = seam.client.post("/access_codes/create", json={"device_id": august(seam), "code": "7391"})
    attempt = raw["action_attempt"]
    assert attempt["action_type"] == "CREATE_ACCESS_CODE"
    assert (attempt["status"], attempt["result"], attempt["error"]) == ("pending", None, None)
    server.settle()
    server.advance(SECOND)
    done = seam.action_attempts.get(action_attempt_id=attempt["action_attempt_id"])
    assert done.status == "success"
    assert done.result["access_code"]["status"] == "set"


def test_generate_code_respects_device_constraints(server: Harness) -> None:
    seam = server.seam()
    nuki = seam.devices.list(device_type="nuki_lock")[0]
    for _ in range(20):
        generated = seam.access_codes.generate_code(device_id=nuki.device_id)
        assert len(generated.code) == 6
        assert "0" not in generated.code and not generated.code.startswith("12")


def test_created_code_without_pin_uses_preferred_length(server: Harness) -> None:
    seam = server.seam()
    code = seam.access_codes.create(device_id=august(seam), preferred_code_length=6)
    assert code.code is not None and len(code.code) == 6
    short = seam.access_codes.create(device_id=august(seam), preferred_code_length=11)
    assert short.code is not None and len(short.code) == 4
