"""The official SDK's automatic retries are harmless (R52–R53).

The harness can lose a response: the server applies the request, the client gets a 503
(``tests/lost_responses.py``). The SDK (3.18) then retries what it considers safe —
GET, HEAD, OPTIONS, PUT and DELETE — so the server sees the same write twice:

* ``access_codes.delete`` is a DELETE: replayed, and must succeed with the same attempt.
* ``access_codes.update`` is a PATCH in this SDK and is *not* retried (the caller gets the
  503); the spec (§2.2) and other SDK versions send PUT, which is retried, so a replayed
  update must be a no-op.
* ``access_codes.create`` is a POST: never retried; the caller gets the 503 although the
  code exists, and a retry by hand with the same PIN is told so (409).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from seam import Seam
from seam.client import DEFAULT_RETRIES
from seam.exceptions import SeamHttpApiError

from tests.conftest import Harness
from tests.lost_responses import Lost

SECOND = timedelta(seconds=1)
SINCE = "2024-01-01T00:00:00Z"


def _lock(seam: Seam) -> str:
    return str(seam.devices.list(device_type="august_lock")[0].device_id)


def _events(seam: Seam, access_code_id: str, event_type: str) -> int:
    events = seam.events.list(access_code_id=access_code_id, since=SINCE)
    return sum(e.event_type == event_type for e in events)


def _attempts(seam: Seam, device_id: str, action_type: str) -> list[tuple[str, str]]:
    return [
        (a.action_attempt_id, a.status)
        for a in seam.action_attempts.list(device_id=device_id)
        if a.action_type == action_type
    ]


def test_what_the_sdk_retries() -> None:
    """Pinned, so an SDK upgrade that changes it is noticed here first."""
    assert DEFAULT_RETRIES.total == 2
    assert DEFAULT_RETRIES.allowed_methods == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    assert DEFAULT_RETRIES.status_forcelist == {429, *range(500, 600)}
    assert DEFAULT_RETRIES.respect_retry_after_header is True
    assert DEFAULT_RETRIES.max_backoff_wait == 120


def test_replayed_put_update_ends_in_the_same_state(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    cid = seam.access_codes.create(device_id=lock, code="4821").access_code_id
    server.advance(SECOND)
    server.responses.arm("PUT", "/access_codes/update")
    # The SDK's own HTTP client and retries, sending PUT as the spec's SDK does (§2.2).
    seam.client.put("/access_codes/update", json={"access_code_id": cid, "code": "5930"})
    assert server.responses.lost == [Lost("PUT", "/access_codes/update", 200)]
    server.advance(SECOND)
    server.advance(SECOND)
    code = seam.access_codes.get(access_code_id=cid)
    assert (code.code, code.status, code.errors) == ("5930", "set", [])
    assert _events(seam, cid, "access_code.changed") == 1
    # One attempt per request the server saw; the replay's changed nothing and is done.
    attempts = _attempts(seam, lock, "UPDATE_ACCESS_CODE")
    assert [status for _, status in attempts] == ["success", "success"]


def test_lost_patch_update_is_not_retried_and_a_manual_retry_is_harmless(
    server: Harness,
) -> None:
    seam = server.seam()
    lock = _lock(seam)
    cid = seam.access_codes.create(device_id=lock, code="4821").access_code_id
    server.advance(SECOND)
    server.responses.arm("PATCH", "/access_codes/update")
    with pytest.raises(httpx.HTTPStatusError) as info:
        seam.access_codes.update(access_code_id=cid, code="5930")
    assert info.value.response.status_code == 503
    assert server.responses.lost == [Lost("PATCH", "/access_codes/update", 200)]
    seam.access_codes.update(access_code_id=cid, code="5930")  # the caller tries again
    server.advance(SECOND)
    server.advance(SECOND)
    code = seam.access_codes.get(access_code_id=cid)
    assert (code.code, code.status) == ("5930", "set")
    assert _events(seam, cid, "access_code.changed") == 1


def test_replayed_delete_of_a_code_on_the_lock_succeeds_once(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    cid = seam.access_codes.create(device_id=lock, code="4821").access_code_id
    server.advance(SECOND)
    server.responses.arm("DELETE", "/access_codes/delete")
    seam.access_codes.delete(access_code_id=cid)  # 503, retried, answered: no error
    assert server.responses.lost == [Lost("DELETE", "/access_codes/delete", 200)]
    assert seam.access_codes.get(access_code_id=cid).status == "removing"
    [(attempt_id, _)] = _attempts(seam, lock, "DELETE_ACCESS_CODE")  # the replay reused it
    server.advance(SECOND)
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.get(access_code_id=cid)
    assert info.value.code == "access_code_not_found"
    assert seam.action_attempts.get(action_attempt_id=attempt_id).status == "success"
    assert _events(seam, cid, "access_code.deleted") == 1
    assert _events(seam, cid, "access_code.removed_from_device") == 1


def test_replayed_delete_of_a_code_already_gone_succeeds(server: Harness) -> None:
    """A code never programmed is dropped at once: the replay finds no code, only the
    delete that removed it moments ago, and answers with that."""
    seam = server.seam()
    lock = _lock(seam)
    window = {"starts_at": "2025-03-01T00:00:00Z", "ends_at": "2025-03-02T00:00:00Z"}
    cid = seam.access_codes.create(device_id=lock, code="4821", **window).access_code_id
    server.settle()
    server.responses.arm("DELETE", "/access_codes/delete", times=2)
    seam.access_codes.delete(access_code_id=cid)  # two lost answers; the third gets through
    assert [lost.status for lost in server.responses.lost] == [200, 200]
    [(_, status)] = _attempts(seam, lock, "DELETE_ACCESS_CODE")
    assert status == "success"
    assert _events(seam, cid, "access_code.deleted") == 1
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.get(access_code_id=cid)


def test_delete_long_after_removal_is_not_found(server: Harness) -> None:
    """Replays come within minutes (R52: three tries of at most 30 s, two waits of at most
    120 s). Later, a removed code is simply not found, as on Seam (R94)."""
    seam = server.seam()
    cid = seam.access_codes.create(device_id=_lock(seam), code="4821").access_code_id
    server.advance(SECOND)
    first = seam.client.delete("/access_codes/delete", params={"access_code_id": cid})
    server.advance(SECOND)
    server.advance(SECOND)
    server.advance(timedelta(minutes=9))
    again = seam.client.delete("/access_codes/delete", params={"access_code_id": cid})
    assert (
        again["action_attempt"]["action_attempt_id"] == first["action_attempt"]["action_attempt_id"]
    )
    server.advance(timedelta(minutes=1))
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.delete(access_code_id=cid)
    assert (info.value.status_code, info.value.code) == (404, "access_code_not_found")


def test_lost_create_is_not_retried_and_a_manual_retry_meets_the_code(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    server.responses.arm("POST", "/access_codes/create")
    with pytest.raises(httpx.HTTPStatusError) as info:
        seam.access_codes.create(device_id=lock, code="4821", name="guest")
    # The SDK does not retry POST: one request, whose code the server did create.
    assert info.value.response.status_code == 503
    assert server.responses.lost == [Lost("POST", "/access_codes/create", 200)]
    [code] = seam.access_codes.list(device_id=lock)
    assert (code.code, code.name) == ("4821", "guest")
    # Retrying by hand with the same PIN is refused rather than making a second code.
    with pytest.raises(SeamHttpApiError) as conflict:
        seam.access_codes.create(device_id=lock, code="4821", name="guest")
    assert (conflict.value.status_code, conflict.value.code) == (409, "duplicate_access_code")
    assert conflict.value.data["access_code_id"] == code.access_code_id
