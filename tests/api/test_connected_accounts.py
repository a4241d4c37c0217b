"""Connected accounts, and a disconnected account's codes (T18–T19, R140), through the SDK."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from tests.api.test_external import _lock_pins
from tests.api.test_unmanaged import _all_events, _lock
from tests.conftest import Harness

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def test_accounts_are_listed_and_private(server: Harness) -> None:
    seam, other = server.seam(), server.seam()
    accounts = seam.connected_accounts.list()
    lock = seam.devices.get(device_id=_lock(seam))
    assert lock.connected_account_id in {a.connected_account_id for a in accounts}
    account = seam.connected_accounts.get(connected_account_id=lock.connected_account_id)
    assert account.errors == [] and account.account_type == "yale"
    assert [a.account_type for a in seam.connected_accounts.list(search="yal")] == ["yale"]
    with pytest.raises(SeamHttpApiError) as err:
        other.connected_accounts.get(connected_account_id=lock.connected_account_id)
    assert err.value.code == "connected_account_not_found"


def test_disconnected_account_makes_codes_unknown_until_it_is_back(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam)
    account = seam.devices.get(device_id=lock).connected_account_id
    set_code = seam.access_codes.create(device_id=lock, code="4821")
    server.advance(SECOND)
    seam.client.post(
        "/connected_accounts/simulate/disconnect", json={"connected_account_id": account}
    )
    server.settle()
    # T18: unknown, with the account's error on the code and the device (R140).
    got = seam.access_codes.get(access_code_id=set_code.access_code_id)
    assert got.status == "unknown"
    assert [e.error_code for e in got.errors] == ["account_disconnected"]
    assert [e["error_code"] for e in seam.devices.get(device_id=lock).errors] == [
        "account_disconnected"
    ]
    assert seam.connected_accounts.get(connected_account_id=account).errors[0]["error_code"] == (
        "account_disconnected"
    )
    # Nothing reaches the lock meanwhile.
    late = seam.access_codes.create(device_id=lock, code="1357")
    assert late.status == "unknown"
    server.advance(HOUR)
    assert _lock_pins(server, lock) == ["4821"]

    seam.client.post("/connected_accounts/simulate/connect", json={"connected_account_id": account})
    server.advance(SECOND)
    server.advance(SECOND)
    # T19: recomputed from the lock; the set code is not reported set a second time.
    assert seam.access_codes.get(access_code_id=set_code.access_code_id).status == "set"
    assert seam.access_codes.get(access_code_id=late.access_code_id).status == "set"
    assert sorted(_lock_pins(server, lock)) == ["1357", "4821"]
    events = _all_events(seam)
    assert events.count("access_code.set_on_device") == 2
    assert "connected_account.disconnected" in events and "connected_account.connected" in events
    assert seam.devices.get(device_id=lock).errors == []


def test_account_simulation_needs_a_sandbox_and_a_known_account(server: Harness) -> None:
    seam = server.seam()
    with pytest.raises(SeamHttpApiError) as err:
        seam.client.post(
            "/connected_accounts/simulate/disconnect",
            json={"connected_account_id": "00000000-0000-4000-8000-000000000000"},
        )
    assert err.value.code == "connected_account_not_found"
    production = server.seam(server.workspace(sandbox=False)[1])
    with pytest.raises(SeamHttpInvalidInputError):
        production.client.post(
            "/connected_accounts/simulate/disconnect",
            json={"connected_account_id": "00000000-0000-4000-8000-000000000000"},
        )
