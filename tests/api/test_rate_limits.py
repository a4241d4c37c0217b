"""Per-device rate limits (R51) over real HTTP, through the official SDK.

Per lock and minute: 10 creates, 10 updates, 20 deletes; more gets 429
``rate_limit_exceeded`` with ``Retry-After``. What a user's program sees depends on the
method: the SDK (3.18) never retries POST ``create`` or PATCH ``update``, so their 429
surfaces at once as ``SeamHttpApiError``; it retries DELETE ``delete`` (and PUT, the verb
for ``update`` in spec §2.2 and other SDK versions) after ``Retry-After``, twice, then
raises. Exact statuses are checked with a raw client or an SDK client whose retries are
off, so that a regression cannot turn into minutes of real sleeping; the SDK's waiting is
checked with its own policy on the fake clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx_retries import Retry
from seam import Seam
from seam.exceptions import SeamHttpApiError

from pinwarden.api.ratelimit import RateLimiter
from pinwarden.clock import FakeClock
from pinwarden.service import Service
from tests.conftest import START, Harness, make_settings
from tests.sdk_retries import retries_on_fake_clock

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
SINCE = "2024-01-01T00:00:00Z"


def _clients(server: Harness) -> tuple[Seam, Seam, httpx.Client, str]:
    """The SDK as users have it, the SDK without retries, a raw client, and the API key."""
    _, key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    return (
        Seam(api_key=key, endpoint=server.endpoint),
        Seam(api_key=key, endpoint=server.endpoint, retries=Retry(total=0)),
        http,
        key,
    )


def _lock(seam: Seam, device_type: str = "august_lock") -> str:
    return str(seam.devices.list(device_type=device_type)[0].device_id)


def _event_count(seam: Seam, device_id: str, event_type: str) -> int:
    events = seam.events.list(device_id=device_id, since=SINCE)
    return sum(e.event_type == event_type for e in events)


def _attempt_count(seam: Seam, device_id: str, action_type: str) -> int:
    attempts = seam.action_attempts.list(device_id=device_id)
    return sum(a.action_type == action_type for a in attempts)


def _make_codes(server: Harness, seam: Seam, device_id: str, count: int) -> list[str]:
    """``count`` codes on the lock, ten a minute as the create limit allows; all set."""
    ids: list[str] = []
    while len(ids) < count:
        batch = min(10, count - len(ids))
        ids += [seam.access_codes.create(device_id=device_id).access_code_id for _ in range(batch)]
        server.advance(MINUTE)
    return ids


def _assert_rate_limited(response: httpx.Response, device_id: str, retry_after: int) -> None:
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(retry_after)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["seam-request-id"]
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["type"] == "rate_limit_exceeded"
    assert body["error"]["data"] == {"device_id": device_id, "retry_after_seconds": retry_after}
    assert f"retry in {retry_after} s" in body["error"]["message"]


def test_eleventh_create_in_a_minute_is_refused_on_that_lock_only(server: Harness) -> None:
    seam, _, http, _ = _clients(server)
    lock, other = _lock(seam), _lock(seam, "schlage_lock")
    for _ in range(10):
        seam.access_codes.create(device_id=lock)
    # What users see: POST is never retried by the SDK, so the 429 is raised at once.
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.create(device_id=lock, name="one too many")
    assert (info.value.status_code, info.value.code) == (429, "rate_limit_exceeded")
    assert info.value.data == {"device_id": lock, "retry_after_seconds": 60}
    assert info.value.request_id
    _assert_rate_limited(
        http.post("/access_codes/create", json={"device_id": lock, "code": "4821"}), lock, 60
    )
    # Refused requests left nothing behind: no code, event or action attempt.
    codes = seam.access_codes.list(device_id=lock)
    assert len(codes) == 10
    assert "one too many" not in [c.name for c in codes] and "4821" not in [c.code for c in codes]
    assert _event_count(seam, lock, "access_code.created") == 10
    assert _attempt_count(seam, lock, "CREATE_ACCESS_CODE") == 10
    # Another lock has its own budget.
    seam.access_codes.create(device_id=other)
    # The window slides with the (fake) clock.
    server.advance(59 * SECOND)
    _assert_rate_limited(http.post("/access_codes/create", json={"device_id": lock}), lock, 1)
    server.advance(SECOND)
    seam.access_codes.create(device_id=lock, name="next minute")
    assert len(seam.access_codes.list(device_id=lock)) == 11


def test_requests_refused_for_other_reasons_cost_no_budget(server: Harness) -> None:
    seam, _, http, _ = _clients(server)
    lock = _lock(seam)
    seam.access_codes.create(device_id=lock, code="4821")
    for _ in range(5):
        with pytest.raises(SeamHttpApiError) as info:
            seam.access_codes.create(device_id=lock, code="4821")
        assert info.value.code == "duplicate_access_code"
        with pytest.raises(SeamHttpApiError) as info:
            seam.access_codes.create(device_id=lock, code="123456789")  # too long for it
        assert info.value.code == "invalid_input"
    for _ in range(9):
        seam.access_codes.create(device_id=lock)
    _assert_rate_limited(http.post("/access_codes/create", json={"device_id": lock}), lock, 60)


def test_eleventh_update_in_a_minute_is_refused_and_changes_nothing(server: Harness) -> None:
    seam, strict, http, _ = _clients(server)
    lock = _lock(seam)
    cid = seam.access_codes.create(device_id=lock, code="4821", name="guest").access_code_id
    server.advance(SECOND)
    for n in range(10):
        seam.access_codes.update(access_code_id=cid, name=f"guest {n}")
    with pytest.raises(SeamHttpApiError) as info:
        strict.access_codes.update(access_code_id=cid, name="too late", code="5930")
    assert (info.value.status_code, info.value.code) == (429, "rate_limit_exceeded")
    _assert_rate_limited(
        http.put("/access_codes/update", json={"access_code_id": cid, "name": "too late"}),
        lock,
        60,
    )
    server.settle()
    code = seam.access_codes.get(access_code_id=cid)
    assert (code.name, code.code, code.status) == ("guest 9", "4821", "set")
    assert _event_count(seam, lock, "access_code.changed") == 10
    assert _attempt_count(seam, lock, "UPDATE_ACCESS_CODE") == 10
    # An update that changes nothing (what a replayed update is) asks nothing of the lock
    # and is answered even at the limit.
    strict.access_codes.update(access_code_id=cid, name="guest 9")
    # Creates and deletes on the same lock have their own budgets.
    seam.access_codes.create(device_id=lock)
    seam.access_codes.delete(access_code_id=cid)


def test_the_sdk_waits_out_retry_after_and_its_retry_goes_through(server: Harness) -> None:
    """What users see for DELETE, and for PUT (``update`` in other SDK versions): the SDK
    sleeps ``Retry-After``, here on the fake clock, and its retry succeeds."""
    seam, _, _, key = _clients(server)
    lock = _lock(seam)
    ids = _make_codes(server, seam, lock, 21)
    last = ids[20]
    for n in range(10):
        seam.access_codes.update(access_code_id=last, name=f"guest {n}")
    waits: list[float] = []
    patient = Seam(
        api_key=key, endpoint=server.endpoint, retries=retries_on_fake_clock(server.advance, waits)
    )
    patient.client.put("/access_codes/update", json={"access_code_id": last, "name": "later"})
    assert waits == [60.0]
    assert seam.access_codes.get(access_code_id=last).name == "later"
    assert _event_count(seam, lock, "access_code.changed") == 11
    for cid in ids[:20]:
        seam.access_codes.delete(access_code_id=cid)
    patient.access_codes.delete(access_code_id=last)
    assert waits == [60.0, 60.0]
    assert seam.access_codes.get(access_code_id=last).status == "removing"
    assert _event_count(seam, lock, "access_code.deleted") == 21


def test_twenty_first_delete_in_a_minute_is_refused_and_changes_nothing(
    server: Harness,
) -> None:
    seam, strict, http, _ = _clients(server)
    lock = _lock(seam)
    ids = _make_codes(server, seam, lock, 21)
    for cid in ids[:20]:
        seam.access_codes.delete(access_code_id=cid)
    last = ids[20]
    with pytest.raises(SeamHttpApiError) as info:
        strict.access_codes.delete(access_code_id=last)
    assert (info.value.status_code, info.value.code) == (429, "rate_limit_exceeded")
    _assert_rate_limited(
        http.delete("/access_codes/delete", params={"access_code_id": last}), lock, 60
    )
    server.settle()
    assert seam.access_codes.get(access_code_id=last).status == "set"
    assert _event_count(seam, lock, "access_code.deleted") == 20
    assert _attempt_count(seam, lock, "DELETE_ACCESS_CODE") == 20
    # A replay of a delete that was admitted is answered, not refused.
    strict.access_codes.delete(access_code_id=ids[0])
    server.advance(MINUTE)
    seam.access_codes.delete(access_code_id=last)
    assert seam.access_codes.get(access_code_id=last).status == "removing"


def test_limits_of_zero_turn_limiting_off(server: Harness) -> None:
    services = server.service.services
    services.rate_limits = RateLimiter.from_settings(
        server.clock, replace(services.settings, rate_limit_creates=0)
    )
    seam, _, _, _ = _clients(server)
    lock = _lock(seam)
    for _ in range(15):
        seam.access_codes.create(device_id=lock)
    assert len(seam.access_codes.list(device_id=lock)) == 15


def test_create_multiple_spends_every_device_budget_or_none(server: Harness) -> None:
    _, seam, http, _ = _clients(server)
    yale, schlage = _lock(seam, "yale_lock"), _lock(seam, "schlage_lock")
    for _ in range(9):
        seam.access_codes.create(device_id=yale)
    seam.access_codes.create_multiple(device_ids=[yale, schlage])  # yale's 10th, schlage's 1st
    refused = http.put("/access_codes/create_multiple", json={"device_ids": [schlage, yale]})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    # Refused for yale, so schlage's budget was not spent either: nine more fit there.
    for _ in range(9):
        seam.access_codes.create(device_id=schlage)
    assert len(seam.access_codes.list(device_id=schlage)) == 10


def test_update_multiple_is_refused_whole_when_one_lock_is_out_of_budget(server: Harness) -> None:
    _, seam, http, _ = _clients(server)
    yale, schlage = _lock(seam, "yale_lock"), _lock(seam, "schlage_lock")
    group = seam.access_codes.create_multiple(device_ids=[yale, schlage], name="Stay")
    key = group[0].common_code_key
    mine = seam.access_codes.create(device_id=yale, code="1357")
    for n in range(10):  # yale's whole update budget
        seam.access_codes.update(access_code_id=mine.access_code_id, name=f"n{n}")
    refused = http.patch(
        "/access_codes/update_multiple", json={"common_code_key": key, "name": "Longer stay"}
    )
    assert refused.status_code == 429
    # Nothing changed on either lock, and schlage spent nothing: its ten updates still fit.
    assert {c.name for c in seam.access_codes.list(device_id=schlage)} == {"Stay"}
    assert {c.name for c in seam.access_codes.list(device_id=yale)} == {"Stay", "n9"}
    for n in range(10):
        seam.access_codes.update(access_code_id=group[1].access_code_id, name=f"s{n}")


def test_two_api_replicas_on_one_database_share_each_locks_budget(database_url: str) -> None:
    """Two ``pinwarden serve --no-worker`` replicas behind a balancer: ten creates per lock
    and minute in all, whichever replica answers."""
    settings = replace(make_settings(database_url), run_worker=False)
    first, second = Service(settings, FakeClock(START)), Service(settings, FakeClock(START))
    _, key = first.create_workspace("Replicas", sandbox=True)
    headers = {"Authorization": f"Bearer {key}"}
    replicas = [TestClient(s.app, headers=headers) for s in (first, second)]
    lock = replicas[0].get("/devices/list").json()["devices"][0]["device_id"]
    for n in range(10):
        created = replicas[n % 2].post("/access_codes/create", json={"device_id": lock})
        assert created.status_code == 200
    for replica in replicas:
        refused = replica.post("/access_codes/create", json={"device_id": lock})
        _assert_rate_limited(refused, lock, 60)
    for service in (first, second):
        service.db.dispose()
