"""API key lifecycle through the official SDK over real HTTP: named, expiring and
read-only keys, revocation from the API, last use, and the brute-force guard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpUnauthorizedError

from tests.conftest import Harness

SECOND = timedelta(seconds=1)


def _create(seam: Seam, **params: Any) -> dict[str, Any]:
    made: dict[str, Any] = seam.client.post("/api_keys/create", json=params)["api_key"]
    return made


def _keys(seam: Seam) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = seam.client.post("/api_keys/list", json={})["api_keys"]
    return listed


def _http(server: Harness, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8 reaches the
    server on 127.0.0.1), so tests can speak from several addresses."""
    return httpx.Client(
        base_url=server.endpoint, transport=httpx.HTTPTransport(local_address=address)
    )


def test_a_key_is_created_listed_and_revoked_through_the_api(server: Harness) -> None:
    workspace_id, key = server.workspace()
    seam = server.seam(key)
    made = _create(seam, name="deploy bot")
    assert made["name"] == "deploy bot" and made["is_read_only"] is False
    assert made["token"].startswith(made["prefix"]) and made["workspace_id"] == workspace_id
    bot = Seam(api_key=made["token"], endpoint=server.endpoint)
    assert bot.workspaces.get().workspace_id == workspace_id

    listed = {k["api_key_id"]: k for k in _keys(seam)}
    assert set(listed) == {key.split("_")[1], made["api_key_id"]}
    assert all("token" not in k for k in listed.values())
    assert made["token"].rsplit("_", 1)[1] not in str(listed)
    assert listed[made["api_key_id"]]["last_used_at"] is not None  # bot just used it

    revoked = seam.client.post("/api_keys/revoke", json={"api_key_id": made["api_key_id"]})
    assert revoked["api_key"]["revoked_at"] is not None
    with pytest.raises(SeamHttpUnauthorizedError):
        bot.workspaces.get()
    assert seam.workspaces.get().workspace_id == workspace_id  # the other key still works

    # Key creation and revocation are in the audit trail, the secret digest is not.
    trail = seam.client.post("/audit_log/list", json={})["audit_log_entries"]
    about_key = [e for e in trail if e["object_id"] == made["api_key_id"]]
    assert [e["action"] for e in about_key] == ["/api_keys/create", "/api_keys/revoke"]
    assert about_key[0]["changes"]["secret_hash"]["to"] == "<redacted>"
    assert about_key[1]["changes"]["revoked_at"]["from"] is None


def test_keys_are_sealed_between_workspaces(server: Harness) -> None:
    alice = server.seam()
    bob = server.seam()
    made = _create(alice, name="alice's")
    assert made["api_key_id"] not in {k["api_key_id"] for k in _keys(bob)}
    with pytest.raises(SeamHttpApiError) as info:
        bob.client.post("/api_keys/revoke", json={"api_key_id": made["api_key_id"]})
    assert info.value.status_code == 404 and info.value.code == "api_key_not_found"
    with pytest.raises(SeamHttpApiError):
        bob.client.post("/api_keys/revoke", json={"api_key_id": made["token"]})
    alice_bot = Seam(api_key=made["token"], endpoint=server.endpoint)
    assert alice_bot.workspaces.get()  # still valid
    assert [e for e in bob.client.post("/audit_log/list", json={})["audit_log_entries"]] == []


def test_an_expired_key_is_refused(server: Harness) -> None:
    seam = server.seam()
    made = _create(seam, expires_at=(server.clock.now() + timedelta(hours=1)).isoformat())
    short = Seam(api_key=made["token"], endpoint=server.endpoint)
    assert short.devices.list()
    server.clock.advance(timedelta(hours=1) - SECOND)
    assert short.devices.list()
    server.clock.advance(SECOND)
    with pytest.raises(SeamHttpUnauthorizedError):
        short.devices.list()
    listed = {k["api_key_id"]: k for k in _keys(seam)}
    assert listed[made["api_key_id"]]["expires_at"] is not None
    with pytest.raises(SeamHttpApiError) as info:
        _create(seam, expires_at="2000-01-01T00:00:00Z")
    assert info.value.status_code == 400


def test_a_read_only_key_reads_and_is_refused_every_write(server: Harness) -> None:
    seam = server.seam()
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    code = seam.access_codes.create(device_id=device_id, code="4821")
    made = _create(seam, name="dashboard", is_read_only=True)
    assert made["is_read_only"] is True
    viewer = Seam(api_key=made["token"], endpoint=server.endpoint)

    assert viewer.devices.get(device_id=device_id).device_id == device_id
    assert [c.access_code_id for c in viewer.access_codes.list(device_id=device_id)] == [
        code.access_code_id
    ]
    assert viewer.events.list(since="2020-01-01T00:00:00Z")
    assert viewer.webhooks.list() == []
    assert viewer.client.post("/audit_log/list", json={})["audit_log_entries"]
    assert len(viewer.client.post("/api_keys/list", json={})["api_keys"]) == 2

    trail_before = seam.client.post("/audit_log/list", json={})["audit_log_entries"]
    writes = [
        lambda: viewer.access_codes.create(device_id=device_id, code="5930"),
        lambda: viewer.access_codes.update(access_code_id=code.access_code_id, name="x"),
        lambda: viewer.access_codes.delete(access_code_id=code.access_code_id),
        lambda: viewer.devices.update(device_id=device_id, name="mine now"),
        lambda: viewer.locks.unlock_door(device_id=device_id),
        lambda: viewer.webhooks.create(url="https://example.com/hook"),
        lambda: viewer.client.post("/api_keys/create", json={"name": "escalate"}),
        lambda: viewer.client.post("/api_keys/revoke", json={"api_key_id": made["api_key_id"]}),
    ]
    for write in writes:
        with pytest.raises(SeamHttpApiError) as info:
            write()
        assert info.value.status_code == 403
        assert info.value.code == "forbidden"
    raw = httpx.post(
        f"{server.endpoint}/access_codes/create",
        json={"device_id": device_id, "code": "5930"},
        headers={"Authorization": f"Bearer {made['token']}"},
    )
    assert raw.status_code == 403
    assert raw.json() == {
        "error": {
            "type": "forbidden",
            "message": "This API key is read-only and cannot call /access_codes/create",
            "data": {"reason": "read_only_api_key"},
        },
        "ok": False,
    }
    assert seam.client.post("/audit_log/list", json={})["audit_log_entries"] == trail_before
    assert [c.name for c in seam.access_codes.list(device_id=device_id)] == [code.name]
    assert len(_keys(seam)) == 2


def test_last_use_is_written_at_most_once_a_minute(server: Harness) -> None:
    seam = server.seam()
    made = _create(seam, name="poller")
    poller = Seam(api_key=made["token"], endpoint=server.endpoint)

    def last_used() -> str | None:
        listed = {k["api_key_id"]: k for k in _keys(seam)}
        value: str | None = listed[made["api_key_id"]]["last_used_at"]
        return value

    assert last_used() is None
    first = server.clock.now()
    poller.workspaces.get()
    assert last_used() == first.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    server.clock.advance(30 * SECOND)
    poller.workspaces.get()
    assert last_used() == first.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    server.clock.advance(31 * SECOND)
    poller.workspaces.get()
    later = server.clock.now()
    assert last_used() == later.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_bad_keys_from_one_address_are_slowed_without_touching_others(server: Harness) -> None:
    workspace_id, key = server.workspace()
    limit = server.service.settings.auth_failure_limit
    assert limit > 0
    guesser = _http(server, "127.0.0.2")
    bad = {"Authorization": "Bearer seam_0123456789abcdef_nottherightsecret"}
    good = {"Authorization": f"Bearer {key}"}
    for _ in range(limit):
        assert guesser.get("/workspaces/get", headers=bad).status_code == 401
    held = guesser.get("/workspaces/get", headers=bad)
    assert held.status_code == 429
    assert held.json()["error"]["type"] == "rate_limit_exceeded" and held.json()["ok"] is False
    wait = int(held.headers["Retry-After"])
    assert wait >= 1
    # Held back before its key is looked at: a good key from there waits too.
    assert guesser.get("/workspaces/get", headers=good).status_code == 429

    # Other addresses are not affected, with good keys or bad.
    seam = Seam(api_key=key, endpoint=server.endpoint)
    assert seam.workspaces.get().workspace_id == workspace_id
    other = _http(server, "127.0.0.3")
    assert other.get("/workspaces/get", headers=bad).status_code == 401
    assert other.get("/workspaces/get", headers=good).status_code == 200
    # A request without any key is not a guess.
    assert other.get("/workspaces/get").status_code == 401

    server.clock.advance(wait * SECOND)
    assert guesser.get("/workspaces/get", headers=good).status_code == 200
