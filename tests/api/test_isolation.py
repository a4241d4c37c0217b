"""One workspace can never read or change another's devices, codes, events or attempts."""

from __future__ import annotations

import httpx
import pytest
from seam.exceptions import SeamHttpApiError

from tests.conftest import Harness


def test_workspaces_are_sealed_from_each_other(server: Harness) -> None:
    alice = server.seam()
    bob = server.seam()
    device = alice.devices.list(device_type="august_lock")[0]
    code = alice.access_codes.create(device_id=device.device_id, code="4821", name="alice")
    raw = alice.client.post(
        "/access_codes/create", json={"device_id": device.device_id, "code": "5930"}
    )
    attempt_id = raw["action_attempt"]["action_attempt_id"]
    server.advance(__import__("datetime").timedelta(seconds=1))
    event = alice.events.list(since="2024-01-01T00:00:00Z")[0]

    assert device.device_id not in {d.device_id for d in bob.devices.list()}
    assert bob.events.list(since="2024-01-01T00:00:00Z") == []
    assert bob.action_attempts.list() == []
    denied = [
        lambda: bob.devices.get(device_id=device.device_id),
        lambda: bob.locks.get(device_id=device.device_id),
        lambda: bob.access_codes.get(access_code_id=code.access_code_id),
        lambda: bob.access_codes.get(device_id=device.device_id, code="4821"),
        lambda: bob.access_codes.list(device_id=device.device_id),
        lambda: bob.access_codes.update(access_code_id=code.access_code_id, name="bob"),
        lambda: bob.access_codes.delete(access_code_id=code.access_code_id),
        lambda: bob.access_codes.create(device_id=device.device_id, code="1357"),
        lambda: bob.access_codes.generate_code(device_id=device.device_id),
        lambda: bob.action_attempts.get(action_attempt_id=attempt_id),
        lambda: bob.events.get(event_id=event.event_id),
        lambda: bob.devices.update(device_id=device.device_id, name="bob's now"),
        lambda: bob.devices.simulate.disconnect(device_id=device.device_id),
    ]
    for call in denied:
        with pytest.raises(SeamHttpApiError) as info:
            call()
        assert info.value.status_code == 404
    assert bob.access_codes.list(access_code_ids=[code.access_code_id]) == []

    still = alice.access_codes.get(access_code_id=code.access_code_id)
    assert (still.name, still.status) == ("alice", "set")
    assert alice.devices.get(device_id=device.device_id).display_name == device.display_name
    assert alice.devices.get(device_id=device.device_id).properties.online is True


def test_api_keys_are_stored_hashed(server: Harness) -> None:
    from sqlalchemy import select

    from pinwarden.store.tables import ApiKey

    _, key = server.workspace()
    with server.service.db.read() as session:
        stored = session.scalars(select(ApiKey)).all()
    secret = key.rsplit("_", 1)[1]
    assert stored and all(secret not in row.secret_hash for row in stored)
    assert (
        httpx.get(
            f"{server.endpoint}/workspaces/get", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
