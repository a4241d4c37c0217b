"""Signed webhook deliveries to a real receiver, verified with the official verifiers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from seam import SeamWebhook
from seam.exceptions import SeamHttpApiError
from svix.webhooks import Webhook as SvixWebhook

from tests.conftest import Harness
from tests.webhooks.receiver import Receiver

SECOND = timedelta(seconds=1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _lock(seam: object) -> str:
    return str(seam.devices.list(device_type="august_lock")[0].device_id)  # type: ignore[attr-defined]


def _log(seam: object, webhook_id: str) -> list[dict[str, object]]:
    result = seam.client.get(  # type: ignore[attr-defined]
        "/webhooks/deliveries/list", params={"webhook_id": webhook_id}
    )
    return list(result["webhook_deliveries"])


def test_every_delivery_verifies_with_svix_and_the_seam_sdk(
    server: Harness, receiver: Receiver
) -> None:
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url)
    assert webhook.secret.startswith("whsec_")
    code = seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.advance(SECOND)
    events = seam.events.list(since="2024-01-01T00:00:00Z")
    assert [e.event_type for e in events] == ["access_code.created", "access_code.set_on_device"]
    assert len(receiver.requests) == 2
    for request, event in zip(receiver.requests, events, strict=True):
        payload = SvixWebhook(webhook.secret).verify(request.body, request.headers)
        assert payload["event_id"] == event.event_id
        parsed = SeamWebhook(webhook.secret).verify(request.body, request.headers)
        assert parsed.event_type == event.event_type
        assert request.headers["svix-id"] == f"msg_{event.event_id}"
        assert request.headers["content-type"] == "application/json"
    assert json.loads(receiver.requests[1].body)["access_code_id"] == code.access_code_id
    with pytest.raises(Exception, match=r"(?i)signature"):
        SvixWebhook(webhook.secret).verify(
            receiver.requests[0].body + " ", receiver.requests[0].headers
        )
    log = _log(seam, webhook.webhook_id)
    assert {d["status"] for d in log} == {"succeeded"}


def test_event_type_filter_and_unknown_types(server: Harness, receiver: Receiver) -> None:
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.set_on_device"])
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.advance(SECOND)
    assert [json.loads(b)["event_type"] for b in receiver.bodies()] == ["access_code.set_on_device"]
    with pytest.raises(SeamHttpApiError) as info:
        seam.webhooks.create(url=receiver.url, event_types=["access_code.exploded"])
    assert (info.value.code, info.value.status_code) == ("invalid_event_types", 400)
    with pytest.raises(SeamHttpApiError):
        seam.webhooks.update(webhook_id=webhook.webhook_id, event_types=["nope"])


def test_webhook_crud_and_isolation(server: Harness, receiver: Receiver) -> None:
    seam = server.seam()
    other = server.seam()
    made = seam.webhooks.create(url=receiver.url)
    assert seam.webhooks.get(webhook_id=made.webhook_id).url == receiver.url
    assert [w.webhook_id for w in seam.webhooks.list()] == [made.webhook_id]
    assert seam.webhooks.get(webhook_id=made.webhook_id).event_types == ["*"]
    seam.webhooks.update(webhook_id=made.webhook_id, event_types=["device.connected"])
    assert seam.webhooks.get(webhook_id=made.webhook_id).event_types == ["device.connected"]
    assert other.webhooks.list() == []
    for call in (
        lambda: other.webhooks.get(webhook_id=made.webhook_id),
        lambda: other.webhooks.delete(webhook_id=made.webhook_id),
        lambda: other.webhooks.update(webhook_id=made.webhook_id, event_types=["*"]),
    ):
        with pytest.raises(SeamHttpApiError) as info:
            call()
        assert info.value.code == "webhook_not_found"
    seam.webhooks.delete(webhook_id=made.webhook_id)
    assert seam.webhooks.list() == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http://", "/relative"])
def test_webhook_urls_are_validated(server: Harness, url: str) -> None:
    with pytest.raises(SeamHttpApiError) as info:
        server.seam().webhooks.create(url=url)
    assert info.value.code == "invalid_input"


def test_retry_schedule_runs_on_the_clock_and_gives_up_after_eight(
    server: Harness, receiver: Receiver
) -> None:
    receiver.respond = lambda _r: 500
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.created"])
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.settle()
    delays = [
        SECOND * 5,
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert len(receiver.requests) == 1
    for attempt, delay in enumerate(delays, start=2):
        server.advance(delay - SECOND)
        assert len(receiver.requests) == attempt - 1, f"attempt {attempt} came early"
        server.advance(SECOND)
        assert len(receiver.requests) == attempt
    [delivery] = _log(seam, webhook.webhook_id)
    assert (delivery["status"], delivery["attempt_count"]) == ("failed", 8)
    assert [a["status_code"] for a in delivery["attempts"]] == [500] * 8  # type: ignore[union-attr]
    server.advance(timedelta(days=2))
    assert len(receiver.requests) == 8
    # All eight attempts carried the same message id.
    assert len({r.headers["svix-id"] for r in receiver.requests}) == 1


def test_receiver_down_for_a_while_gets_everything_afterwards(
    server: Harness, receiver: Receiver
) -> None:
    up = False
    receiver.respond = lambda _r: 200 if up else 503
    seam = server.seam()
    seam.webhooks.create(url=receiver.url)
    lock = _lock(seam)
    for pin in ("4821", "5930", "6142"):
        seam.access_codes.create(device_id=lock, code=pin)
    server.advance(SECOND)
    expected = {e.event_id for e in seam.events.list(since="2024-01-01T00:00:00Z")}
    assert len(expected) == 6
    up = True
    server.advance(timedelta(minutes=6))
    delivered = {json.loads(r.body)["event_id"] for r in receiver.requests}
    assert delivered == expected


def test_redirects_are_not_followed(server: Harness, receiver: Receiver) -> None:
    receiver.respond = lambda _r: 302
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.created"])
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.settle()
    [delivery] = _log(seam, webhook.webhook_id)
    assert delivery["status"] == "pending"
    assert [a["status_code"] for a in delivery["attempts"]] == [302]  # type: ignore[union-attr]


def test_deleting_a_webhook_stops_its_retries(server: Harness, receiver: Receiver) -> None:
    receiver.respond = lambda _r: 500
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.created"])
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.settle()
    seam.webhooks.delete(webhook_id=webhook.webhook_id)
    server.advance(timedelta(days=2))
    assert len(receiver.requests) == 1


def test_replay_sends_an_event_again_with_the_same_message_id(
    server: Harness, receiver: Receiver
) -> None:
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.created"])
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    server.settle()
    event = seam.events.list(since="2024-01-01T00:00:00Z")[0]
    queued = seam.client.post(
        "/webhooks/deliveries/replay",
        json={"event_id": event.event_id, "webhook_id": webhook.webhook_id},
    )
    assert queued["webhook_deliveries_queued"] == 1
    server.settle()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["svix-id"] == receiver.requests[1].headers["svix-id"]
    assert receiver.requests[0].body == receiver.requests[1].body


def test_slow_receiver_does_not_slow_the_api(server: Harness) -> None:
    import threading

    release = threading.Event()
    answered = threading.Event()

    def stall(_r: object) -> int:
        release.wait(5)
        answered.set()
        return 200

    slow = Receiver(respond=stall)
    try:
        seam = server.seam()
        seam.webhooks.create(url=slow.url)
        lock = _lock(seam)
        for pin in ("4821", "5930", "6142", "7253"):
            seam.access_codes.create(device_id=lock, code=pin)
        server.service.worker.wait_idle()
        # The API and the reconciler finished their work while the receiver still holds
        # the first delivery.
        assert not answered.is_set()
        assert len(seam.access_codes.list(device_id=lock)) == 4
        assert len(slow.requests) == 1
    finally:
        release.set()
        slow.close()


def test_secrets_never_reach_the_logs(
    server: Harness, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    receiver.respond = lambda _r: 500
    seam = server.seam()
    webhook = seam.webhooks.create(url=receiver.url)
    seam.access_codes.create(device_id=_lock(seam), code="4821")
    for _ in range(10):
        server.advance(timedelta(hours=11))
    assert len(receiver.requests) == 16
    secret_part = webhook.secret.removeprefix("whsec_")
    assert secret_part not in caplog.text
    assert "giving up on delivery" in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:abc/hooks",
        "http://[::1/",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
        "http://\ud800.example/",
    ],
)
def test_urls_httpx_cannot_send_to_or_special_addresses_are_refused(
    server: Harness, url: str
) -> None:
    _, key = server.workspace()
    import httpx

    response = httpx.post(
        f"{server.endpoint}/webhooks/create",
        content=json.dumps({"url": url}).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_input"


def test_deleting_a_webhook_stops_a_lane_mid_batch(server: Harness) -> None:
    import threading

    first = threading.Event()
    release = threading.Event()

    def hold_first(_r: object) -> int:
        if not first.is_set():
            first.set()
            release.wait(5)
        return 200

    slow = Receiver(respond=hold_first)
    try:
        seam = server.seam()
        webhook = seam.webhooks.create(url=slow.url, event_types=["device.disconnected"])
        lock = _lock(seam)
        for _ in range(6):
            seam.devices.simulate.disconnect(device_id=lock)
            seam.devices.simulate.connect(device_id=lock)
        assert first.wait(5)
        seam.webhooks.delete(webhook_id=webhook.webhook_id)
        release.set()
        server.settle()
        assert len(slow.requests) == 1
    finally:
        release.set()
        slow.close()


def test_two_deliverers_keep_order_and_never_send_twice(
    server: Harness, receiver: Receiver
) -> None:
    from pinwarden.background import run_in_thread
    from pinwarden.service import Service
    from tests.conftest import make_settings

    # A second process on the same database (here: a second service in this one).
    other = Service(make_settings(server.service.settings.database_url), server.clock)
    # Wake it on every commit too, as a NOTIFY would, so both compete for every lane.
    server.service.db.on_commit(lambda _info: other.deliverer.wake())
    receiver.respond = lambda _r: (time.sleep(0.01), 200)[1]
    thread, stop = run_in_thread("second-deliverer", other.deliverer.run)
    try:
        seam = server.seam()
        seam.webhooks.create(
            url=receiver.url, event_types=["device.disconnected", "device.connected"]
        )
        lock = _lock(seam)
        for _ in range(15):
            seam.devices.simulate.disconnect(device_id=lock)
            seam.devices.simulate.connect(device_id=lock)
        server.settle()  # the engine records what the lock reported
        events = [e.event_id for e in seam.events.list(since="2024-01-01T00:00:00Z")]
        # Two deliverers cannot see each other's idleness; wait for the receiver instead.
        deadline = time.monotonic() + 20
        while len(receiver.requests) < len(events) and time.monotonic() < deadline:
            server.settle()
            other.deliverer.wait_idle()
            time.sleep(0.05)
        received = [json.loads(b)["event_id"] for b in receiver.bodies()]
        assert received == events
        assert len(receiver.requests) == len(events)  # and nothing was sent twice
    finally:
        stop.set()
        thread.join(timeout=30)
        other.db.dispose()


def test_one_failure_in_a_recorded_group_is_retried_alone(
    server: Harness, receiver: Receiver
) -> None:
    # Outcomes are written a group at a time; the one failure in the group must get its
    # retry while the successes around it count as delivered, once each.
    receiver.respond = lambda _r: 500 if len(receiver.requests) == 2 else 200
    seam = server.seam()
    webhook = seam.webhooks.create(
        url=receiver.url, event_types=["device.disconnected", "device.connected"]
    )
    lock = _lock(seam)
    for _ in range(3):
        seam.devices.simulate.disconnect(device_id=lock)
        seam.devices.simulate.connect(device_id=lock)
    server.settle()
    events = [e.event_id for e in seam.events.list(since="2024-01-01T00:00:00Z")]
    assert len(events) == 6
    log = {d["event_id"]: d for d in _log(seam, webhook.webhook_id)}
    failed = events[1]
    assert log[failed]["status"] == "pending"
    assert [a["status_code"] for a in log[failed]["attempts"]] == [500]  # type: ignore[union-attr]
    for event_id in events[:1] + events[2:]:
        assert log[event_id]["status"] == "succeeded"
        assert [a["status_code"] for a in log[event_id]["attempts"]] == [200]  # type: ignore[union-attr]
    server.advance(SECOND * 5)
    log = {d["event_id"]: d for d in _log(seam, webhook.webhook_id)}
    assert {d["status"] for d in log.values()} == {"succeeded"}
    assert [a["status_code"] for a in log[failed]["attempts"]] == [500, 200]  # type: ignore[union-attr]
    assert [json.loads(r.body)["event_id"] for r in receiver.requests] == [*events, failed]
