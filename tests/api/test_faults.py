"""Sandbox fault injection through the SDK: flaky, forgetful, PIN-hiding and hub-less locks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seam.exceptions import SeamHttpApiError

from tests.conftest import Harness

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def _faults(seam: object, device_id: str, **faults: object) -> dict[str, object]:
    result = seam.client.post(  # type: ignore[attr-defined]
        "/devices/simulate/faults", json={"device_id": device_id, **faults}
    )
    return dict(result["device_faults"])


def test_failing_lock_keeps_the_code_setting_and_recovers(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0].device_id
    assert _faults(seam, lock, failure_rate=1.0) == {"device_id": lock, "failure_rate": 1.0}
    code = seam.access_codes.create(device_id=lock, code="4821")
    for _ in range(6):
        server.advance(MINUTE)
    stuck = seam.access_codes.get(access_code_id=code.access_code_id)
    assert stuck.status == "setting"
    assert "device_offline" in [e.error_code for e in stuck.errors]
    assert [w.warning_code for w in stuck.warnings] == ["delay_in_setting_on_device"]
    _faults(seam, lock, failure_rate=None)
    server.advance(SECOND)
    server.advance(SECOND)
    healed = seam.access_codes.get(access_code_id=code.access_code_id)
    assert (healed.status, healed.errors, healed.warnings) == ("set", [], [])


def test_lock_that_drops_acknowledged_codes_is_retried_with_back_off(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0].device_id
    _faults(seam, lock, drop_after_ack=True)
    code = seam.access_codes.create(device_id=lock, code="4821")
    for _ in range(10):
        server.advance(MINUTE)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "setting"
    _faults(seam, lock, drop_after_ack=False)
    server.advance(timedelta(minutes=11))  # the next try, after the back-off
    server.advance(6 * SECOND)  # its check, one (shortest) back-off later
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_lock_that_hides_pins_is_trusted_with_what_it_acknowledged(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0].device_id
    _faults(seam, lock, mask_pins=True)
    code = seam.access_codes.create(device_id=lock, code="4821")
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
    seam.access_codes.update(access_code_id=code.access_code_id, code="5930")
    server.advance(SECOND)
    server.advance(SECOND)
    got = seam.access_codes.get(access_code_id=code.access_code_id)
    assert (got.status, got.code) == ("set", "5930")


def test_slow_lock_takes_its_latency(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0].device_id
    _faults(seam, lock, latency_ms=30_000)
    code = seam.access_codes.create(device_id=lock, code="4821")
    server.advance(29 * SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "setting"
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_hub_disconnect_shows_on_the_device_and_its_codes(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="august_lock")[0].device_id
    seam.devices.simulate.disconnect_from_hub(device_id=lock)
    server.settle()  # the engine records what the lock reported
    code = seam.access_codes.create(device_id=lock, code="4821")
    server.advance(SECOND)
    assert [e.error_code for e in seam.devices.get(device_id=lock).errors] == ["hub_disconnected"]
    assert "hub_disconnected" in [
        e.error_code for e in seam.access_codes.get(access_code_id=code.access_code_id).errors
    ]
    seam.devices.simulate.connect_to_hub(device_id=lock)
    server.settle()  # the engine records what the lock reported
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
    assert seam.devices.get(device_id=lock).errors == []
    events = [e.event_type for e in seam.events.list(device_id=lock, since="2024-01-01T00:00:00Z")]
    assert events[0] == "device.disconnected" and "device.connected" in events
    nuki = seam.devices.list(device_type="nuki_lock")[0].device_id
    with pytest.raises(SeamHttpApiError):
        seam.devices.simulate.disconnect_from_hub(device_id=nuki)


def test_fault_settings_are_validated(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list()[0].device_id
    for bad in ({"failure_rate": 2}, {"latency_ms": -1}, {"mask_pins": "sometimes"}):
        with pytest.raises(SeamHttpApiError) as info:
            _faults(seam, lock, **bad)
        assert info.value.status_code == 400


def test_refused_set_and_remove_are_reported_once_and_retried_until_they_work(
    server: Harness,
) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="yale_lock")[0].device_id
    _faults(seam, lock, reject_rate=1.0)
    code = seam.access_codes.create(device_id=lock, code="4821")
    cid = code.access_code_id
    for _ in range(30):  # half an hour of retries with back-off (T8)
        server.advance(MINUTE)
    stuck = seam.access_codes.get(access_code_id=cid)
    assert stuck.status == "setting"
    assert [e.error_code for e in stuck.errors] == ["failed_to_set_on_device"]

    def count(event_type: str) -> int:
        events = seam.events.list(access_code_id=cid, since="2024-01-01T00:00:00Z")
        return sum(e.event_type == event_type for e in events)

    assert count("access_code.failed_to_set_on_device") == 1
    _faults(seam, lock, reject_rate=None)
    server.advance(timedelta(minutes=11))  # the next try, after the back-off
    server.advance(SECOND)
    healed = seam.access_codes.get(access_code_id=cid)
    assert (healed.status, healed.errors) == ("set", [])  # T7 clears the error

    _faults(seam, lock, reject_rate=1.0)
    seam.access_codes.delete(access_code_id=cid)
    for _ in range(30):  # T14
        server.advance(MINUTE)
    removing = seam.access_codes.get(access_code_id=cid)
    assert removing.status == "removing"
    assert "failed_to_remove_from_device" in [e.error_code for e in removing.errors]
    assert count("access_code.failed_to_remove_from_device") == 1
    _faults(seam, lock, reject_rate=None)
    server.advance(timedelta(minutes=11))
    server.advance(SECOND)
    with pytest.raises(SeamHttpApiError):  # T13
        seam.access_codes.get(access_code_id=cid)
    assert count("access_code.removed_from_device") == 1
