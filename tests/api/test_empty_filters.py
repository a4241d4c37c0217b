"""An empty array filter matches nothing on every list route (R23, R27), whether the SDK
sends it in a query string (``key=``) or a JSON body (``[]``); a missing one matches all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness

SINCE = "2024-01-01T00:00:00Z"


@pytest.fixture
def seeded(server: Harness) -> tuple[Any, str, str]:
    """A workspace with one code (so events and action attempts exist); its client, the
    lock and the code."""
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0]
    code = seam.access_codes.create(device_id=lock.device_id, code="4821")
    server.settle()
    return seam, lock.device_id, code.access_code_id


def test_events_list(seeded: tuple[Any, str, str]) -> None:
    seam, device_id, code_id = seeded
    assert seam.events.list(since=SINCE)
    assert seam.events.list(since=SINCE, device_ids=[device_id])
    for empty in ("device_ids", "access_code_ids", "event_types", "event_ids", "space_ids"):
        assert seam.events.list(since=SINCE, **{empty: []}) == [], empty
        body = seam.client.post("/events/list", json={"since": SINCE, empty: []})
        assert body["events"] == [], empty
    # The singular filter does not widen an empty list: filters combine with AND.
    assert seam.events.list(since=SINCE, device_id=device_id, device_ids=[]) == []
    assert seam.events.list(since=SINCE, access_code_id=code_id, access_code_ids=[]) == []


@pytest.mark.parametrize(
    ("path", "sdk_arrays"),
    [
        ("/devices/list", ("device_ids", "device_types", "connected_account_ids")),
        # The SDK's locks.list takes only device_types as an array.
        ("/locks/list", ("device_types",)),
    ],
)
def test_devices_and_locks_list(
    seeded: tuple[Any, str, str], path: str, sdk_arrays: tuple[str, ...]
) -> None:
    seam, device_id, _ = seeded
    listing = seam.devices.list if path == "/devices/list" else seam.locks.list
    everything = listing()
    assert len(everything) > 1
    for empty in sdk_arrays:
        assert listing(**{empty: []}) == [], empty
    for empty in ("device_ids", "device_types", "connected_account_ids"):
        assert seam.client.post(path, json={empty: []})["devices"] == [], empty
    one = seam.client.post(path, json={"device_ids": [device_id]})["devices"]
    assert [d["device_id"] for d in one] == [device_id]
    # Flag conditions are not id lists: "has all (none) of no flags" holds of every device.
    for flags in ("include_if", "exclude_if"):
        assert len(seam.client.post(path, json={flags: []})["devices"]) == len(everything)


def test_access_codes_list(seeded: tuple[Any, str, str]) -> None:
    seam, device_id, code_id = seeded
    assert [c.access_code_id for c in seam.access_codes.list(device_id=device_id)] == [code_id]
    assert seam.access_codes.list(access_code_ids=[]) == []
    assert seam.access_codes.list(device_id=device_id, access_code_ids=[]) == []
    body = seam.client.post("/access_codes/list", json={"access_code_ids": []})
    assert body["access_codes"] == []


def test_action_attempts_list(seeded: tuple[Any, str, str]) -> None:
    seam, device_id, _ = seeded
    [attempt] = seam.action_attempts.list()
    assert [a.action_attempt_id for a in seam.action_attempts.list(device_id=device_id)] == [
        attempt.action_attempt_id
    ]
    assert seam.action_attempts.list(action_attempt_ids=[]) == []
    body = seam.client.post("/action_attempts/list", json={"action_attempt_ids": []})
    assert body["action_attempts"] == []
