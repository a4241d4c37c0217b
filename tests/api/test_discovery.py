"""Locks that join or leave an account show up through its periodic discovery."""

from __future__ import annotations

import uuid

from pinwarden.sandbox.tables import SandboxLock
from pinwarden.store.tables import AccessCode
from tests.api.test_unmanaged import _lock
from tests.conftest import Harness
from tests.sandbox import lock_id


def test_a_lock_joining_an_account_is_added_at_the_next_discovery(server: Harness) -> None:
    seam = server.seam()
    yale = seam.devices.get(device_id=_lock(seam))
    account = yale.connected_account_id
    with server.service.db.write() as session:
        session.add(
            SandboxLock(
                lock_id=str(uuid.uuid4()),
                connected_account_id=account,
                model_key="tedee_go",
                online=True,
                battery_level=0.3,
                faults={},
                used_offline_pins=[],
            )
        )
    server.settle()
    assert len(seam.devices.list(connected_account_id=account)) == 1  # not yet looked for
    server.advance(server.service.settings.discovery_interval)
    added = [
        d for d in seam.devices.list(connected_account_id=account) if d.device_id != yale.device_id
    ]
    assert [d.device_type for d in added] == ["tedee_lock"]
    assert added[0].properties.battery_level == 0.3
    assert seam.events.get(event_type="device.added").device_id == added[0].device_id
    # The new lock is managed like any other.
    code = seam.access_codes.create(device_id=added[0].device_id, code="52817")
    server.advance(server.service.settings.sandbox_latency)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_a_lock_leaving_an_account_is_removed_with_its_codes(server: Harness) -> None:
    seam = server.seam()
    yale = _lock(seam)
    code = seam.access_codes.create(device_id=yale, code="4821")
    with server.service.db.write() as session:
        lock = session.get(SandboxLock, lock_id(server.service.db, yale))
        assert lock is not None
        session.delete(lock)
    server.advance(server.service.settings.discovery_interval)
    assert yale not in {d.device_id for d in seam.devices.list()}
    assert seam.events.get(event_type="device.removed").device_id == yale
    with server.service.db.read() as session:
        assert session.get(AccessCode, code.access_code_id) is None
