"""The audit trail through the official SDK: who changed which code, when, from where,
with PINs masked; workspace-scoped; pruned after its retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from seam import Seam
from sqlalchemy import select

from pinwarden.store.tables import AuditEntry
from tests.conftest import Harness
from tests.pins import shows_pin

SECOND = timedelta(seconds=1)


def _key_id(key: str) -> str:
    return key.split("_")[1]


def _entries(seam: Seam, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = seam.client.post("/audit_log/list", json=filters)[
        "audit_log_entries"
    ]
    return found


def test_code_create_update_delete_are_audited_with_masked_pins(server: Harness) -> None:
    began = server.clock.now()
    workspace_id, key = server.workspace()
    seam = server.seam(key)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    code = seam.access_codes.create(device_id=device_id, name="guest", code="4821")
    server.advance(SECOND)  # the worker's own writes (status "set") are not audited
    seam.access_codes.update(access_code_id=code.access_code_id, name="cleaner", code="7390")
    seam.access_codes.delete(access_code_id=code.access_code_id)

    entries = _entries(seam, access_code_id=code.access_code_id)
    codes = [e for e in entries if e["object_type"] == "access_code"]
    assert [(e["action"], e["operation"]) for e in codes] == [
        ("/access_codes/create", "create"),
        ("/access_codes/update", "update"),
        ("/access_codes/delete", "update"),
    ]
    created, updated, deleted = codes
    for entry in codes:
        assert entry["actor"] == {"type": "api_key", "id": _key_id(key)}
        assert entry["workspace_id"] == workspace_id
        assert entry["source_address"] == "127.0.0.1"
        assert entry["request_id"].startswith("req_")
        assert entry["device_id"] == device_id
        assert entry["object_id"] == code.access_code_id
    assert len({e["request_id"] for e in codes}) == 3
    assert created["changes"]["code"] == {"from": None, "to": "****"}
    assert created["changes"]["name"] == {"from": None, "to": "guest"}
    assert updated["changes"]["name"] == {"from": "guest", "to": "cleaner"}
    assert updated["changes"]["code"] == {"from": "****", "to": "****"}
    assert deleted["changes"]["deleted_at"]["from"] is None
    assert deleted["changes"]["deleted_at"]["to"] is not None
    # The PINs are nowhere in the trail, nor in the table behind it.
    assert not shows_pin("4821", json.dumps(entries)) and not shows_pin("7390", json.dumps(entries))
    with server.service.db.read() as session:
        stored = json.dumps([r.changes for r in session.scalars(select(AuditEntry))])
    assert not shows_pin("4821", stored) and not shows_pin("7390", stored)

    # The request id is the one the response carried.
    known = {e["audit_log_entry_id"] for e in _entries(seam, device_id=device_id)}
    response = httpx.post(
        f"{server.endpoint}/devices/update",
        json={"device_id": device_id, "name": "Front door"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    (renamed,) = [
        e for e in _entries(seam, device_id=device_id) if e["audit_log_entry_id"] not in known
    ]
    assert renamed["request_id"] == response.headers["seam-request-id"]
    assert renamed["object_type"] == "device" and renamed["action"] == "/devices/update"
    assert renamed["changes"]["name"]["to"] == "Front door"

    # Filters: by actor, by time.
    assert len(_entries(seam, actor=_key_id(key))) == len(_entries(seam))
    assert _entries(seam, actor="someone-else") == []
    assert _entries(seam, until="2000-01-01T00:00:00Z") == []
    everything = _entries(seam)
    assert _entries(seam, since=began.isoformat()) == everything
    later = _entries(seam, since=(began + SECOND).isoformat())
    assert 0 < len(later) < len(everything)  # the create came before the clock moved
    assert _entries(seam, until=(began + SECOND).isoformat()) == everything[: -len(later)]
    assert _entries(seam, since=(server.clock.now() + SECOND).isoformat()) == []
    assert [e["audit_log_entry_id"] for e in _entries(seam, limit=2, unstable_offset=1)] == [
        e["audit_log_entry_id"] for e in _entries(seam)[1:3]
    ]


def test_a_webhook_secret_never_enters_the_trail(server: Harness) -> None:
    seam = server.seam()
    webhook = seam.webhooks.create(url="https://example.com/hook")
    entries = _entries(seam)
    (created,) = [e for e in entries if e["object_type"] == "webhook"]
    assert created["object_id"] == webhook.webhook_id
    assert created["changes"]["secret"] == {"from": None, "to": "<redacted>"}
    assert webhook.secret is not None and webhook.secret not in json.dumps(entries)


def test_workspaces_see_only_their_own_entries(server: Harness) -> None:
    alice = server.seam()
    bob = server.seam()
    device_id = alice.devices.list(device_type="august_lock")[0].device_id
    code = alice.access_codes.create(device_id=device_id, code="4821")
    assert _entries(alice, access_code_id=code.access_code_id)
    assert _entries(bob) == []
    assert _entries(bob, device_id=device_id) == []
    assert _entries(bob, access_code_id=code.access_code_id) == []


def test_the_engine_is_not_an_actor_and_old_entries_are_pruned(server: Harness) -> None:
    seam = server.seam()
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    seam.access_codes.create(device_id=device_id, code="4821")
    before = _entries(seam)
    server.advance(SECOND)  # the reconciler sets the code: no entry
    assert _entries(seam) == before

    retention = server.service.settings.audit_retention
    server.clock.advance(retention - SECOND)
    assert server.service.deliverer.prune_audit_log() == 0
    assert _entries(seam) == before
    server.clock.advance(2 * SECOND)
    assert server.service.deliverer.prune_audit_log() == len(before)
    assert _entries(seam) == []


def test_door_commands_and_writes_without_an_object_are_audited(server: Harness) -> None:
    seam = server.seam()
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    seam.webhooks.create(url="https://example.com/hook")
    seam.access_codes.create(device_id=device_id, code="4821")
    event = seam.events.list(since="2020-01-01T00:00:00Z")[0]
    seam.locks.unlock_door(device_id=device_id, wait_for_action_attempt=False)
    seam.client.post("/webhooks/deliveries/replay", json={"event_id": event.event_id})
    entries = _entries(seam)
    (door,) = [e for e in entries if e["action"] == "/locks/unlock_door"]
    assert (door["object_type"], door["operation"], door["device_id"]) == (
        "action_attempt",
        "create",
        device_id,
    )
    assert door["changes"]["action_type"]["to"] == "UNLOCK_DOOR"
    (replay,) = [e for e in entries if e["action"] == "/webhooks/deliveries/replay"]
    assert (replay["operation"], replay["object_type"], replay["changes"]) == (
        "request",
        None,
        {},
    )


def test_the_console_audits_as_its_user_through_the_same_functions(server: Harness) -> None:
    """The console calls the route functions itself, as its user: no API key involved."""
    from pinwarden.api.context import RequestContext
    from pinwarden.api.routes import access_codes
    from pinwarden.store.audit import Actor, acting_as

    workspace_id, key = server.workspace()
    seam = server.seam(key)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    code = seam.access_codes.create(device_id=device_id, name="guest", code="4821")
    ctx = RequestContext(server.service.services, workspace_id, True, "http://console/")
    actor = Actor(
        "console_user",
        "user-42",
        "console: edit code",
        server.clock.now,
        workspace_id=workspace_id,
        request_id="req_console",
        source_address="198.51.100.9",
    )
    params = access_codes.UpdateParams.model_validate(
        {"access_code_id": code.access_code_id, "name": "renamed in the console"}
    )
    with acting_as(actor):
        access_codes.update(ctx, params)
    access_codes.update(  # no actor: not audited (as the engine's writes)
        ctx,
        access_codes.UpdateParams.model_validate(
            {"access_code_id": code.access_code_id, "name": "renamed by nobody"}
        ),
    )
    entries = _entries(seam, actor="user-42")
    (edit,) = [e for e in entries if e["object_type"] == "access_code"]
    assert edit["actor"] == {"type": "console_user", "id": "user-42"}
    assert (edit["request_id"], edit["source_address"]) == ("req_console", "198.51.100.9")
    assert edit["changes"]["name"] == {"from": "guest", "to": "renamed in the console"}
    assert "renamed by nobody" not in json.dumps(_entries(seam))
