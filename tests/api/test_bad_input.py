"""Bad input on every route: the documented Seam error, never a 500, nothing half-written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from pinwarden.api.routes import all_endpoints
from pinwarden.api.wire import Endpoint
from pinwarden.clock import SystemClock
from pinwarden.config import Settings
from pinwarden.integrations import Integrations
from pinwarden.store.db import Database
from tests.conftest import Harness

# Paths and methods extracted from Seam's OpenAPI subset (shared/contract).
CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract_methods.json"
# pinwarden's own routes, documented in the README as extensions.
EXTENSIONS = {
    "/webhooks/deliveries/list",
    "/webhooks/deliveries/replay",
    "/devices/simulate/faults",
    "/access_codes/simulate/change_at_lock",
    "/connected_accounts/simulate/connect",
    "/connected_accounts/simulate/disconnect",
    "/audit_log/list",
    "/api_keys/list",
    "/api_keys/create",
    "/api_keys/revoke",
}
WRONG_VALUES: list[Any] = [
    None,
    12345,
    -1,
    0.5,
    "",
    "not-a-uuid",
    [],
    ["x"],
    {"a": 1},
    True,
    "x" * 5000,
]


def _served() -> list[Endpoint]:
    """Every route a service mounts: the API's and the integrations' (sandbox) own."""
    db = Database("sqlite://")
    try:
        return [*all_endpoints(), *Integrations(db, SystemClock(), Settings()).endpoints]
    finally:
        db.dispose()


def test_every_route_accepts_exactly_the_contract_methods() -> None:
    paths = json.loads(CONTRACT.read_text())["paths"]
    served = _served()
    assert "/locks/simulate/keypad_code_entry" in {e.path for e in served}
    for endpoint in served:
        if endpoint.path in EXTENSIONS:
            continue
        assert endpoint.path in paths, endpoint.path
        assert set(endpoint.methods) == {m.upper() for m in paths[endpoint.path]}, endpoint.path


def _assert_envelope(response: httpx.Response, context: str) -> None:
    assert response.status_code != 500, context
    body = response.json()
    if response.status_code == 200:
        assert body["ok"] is True, context
        return
    assert response.status_code in (400, 401, 404, 405, 409), context
    assert body["ok"] is False, context
    assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)
    if body["error"]["type"] == "invalid_input":
        assert "validation_errors" in body["error"], context


def test_wrong_types_on_every_parameter_of_every_route(server: Harness) -> None:
    _, key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    for endpoint in _served():
        if endpoint.path == "/workspaces/reset_sandbox":
            continue  # valid with any body; covered by its own test
        payloads: list[dict[str, Any]] = [{}]
        for name in endpoint.params.model_fields:
            payloads.extend({name: value} for value in WRONG_VALUES)
            payloads.append({name: str(uuid.uuid4())})
        for payload in payloads:
            for method in endpoint.methods:
                context = f"{method} {endpoint.path} {str(payload)[:80]}"
                if method in ("GET", "DELETE"):
                    params = {
                        k: (json.dumps(v) if isinstance(v, dict | bool) else v)
                        for k, v in payload.items()
                        if v is not None
                    }
                    response = http.request(method, endpoint.path, params=params)
                else:
                    response = http.request(method, endpoint.path, json=payload)
                _assert_envelope(response, context)


def test_unknown_resources_are_not_found_with_their_ids(server: Harness) -> None:
    seam = server.seam()
    missing = str(uuid.uuid4())
    cases = [
        (lambda: seam.devices.get(device_id=missing), "device_not_found"),
        (lambda: seam.locks.get(device_id=missing), "device_not_found"),
        (lambda: seam.access_codes.get(access_code_id=missing), "access_code_not_found"),
        (
            lambda: seam.access_codes.update(access_code_id=missing, name="x"),
            "access_code_not_found",
        ),
        (lambda: seam.access_codes.delete(access_code_id=missing), "access_code_not_found"),
        (lambda: seam.access_codes.create(device_id=missing), "device_not_found"),
        (lambda: seam.access_codes.list(device_id=missing), "device_not_found"),
        (lambda: seam.access_codes.generate_code(device_id=missing), "device_not_found"),
        (lambda: seam.action_attempts.get(action_attempt_id=missing), "action_attempt_not_found"),
        (lambda: seam.events.get(event_id=missing), "event_not_found"),
    ]
    for call, error_type in cases:
        with pytest.raises(SeamHttpApiError) as info:
            call()
        assert info.value.code == error_type
        assert info.value.status_code == 404
        assert missing in json.dumps(info.value.data)


def _august(seam: Any) -> str:
    return str(seam.devices.list(device_type="august_lock")[0].device_id)


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"starts_at": "2025-01-02T00:00:00Z"}, "ends_at", "Both starts_at and ends_at"),
        ({"ends_at": "2025-01-02T00:00:00Z"}, "starts_at", "Both starts_at and ends_at"),
        (
            {"starts_at": "2025-01-03T00:00:00Z", "ends_at": "2025-01-02T00:00:00Z"},
            "ends_at",
            "later than starts_at",
        ),
        (
            {"starts_at": "2024-01-01T00:00:00Z", "ends_at": "2024-01-02T00:00:00Z"},
            "ends_at",
            "future",
        ),
        ({"code": "123"}, "code", "at least 4"),
        ({"code": "1234567890"}, "code", "at most 9"),
        ({"code": "12 4"}, "code", "pattern"),
        (
            {"allow_external_modification": True, "is_external_modification_allowed": False},
            "allow_external_modification",
            "disagree",
        ),
        ({"is_offline_access_code": True}, "is_offline_access_code", "offline access codes"),
        ({"starts_at": "yesterday", "ends_at": "2025-01-02T00:00:00Z"}, "starts_at", "datetime"),
    ],
)
def test_create_rules_name_the_broken_parameter(
    server: Harness, params: dict[str, Any], param: str, fragment: str
) -> None:
    seam = server.seam()
    device_id = _august(seam)
    with pytest.raises(SeamHttpInvalidInputError) as info:
        seam.access_codes.create(device_id=device_id, **params)
    assert fragment in str(info.value)
    assert param in [v.parameter_name for v in info.value.validation_errors]
    assert seam.access_codes.list(device_id=device_id) == []
    assert [e.event_type for e in seam.events.list(since="2024-01-01T00:00:00Z")] == []


def test_device_constraints_are_enforced_with_the_rule_named(server: Harness) -> None:
    seam = server.seam()
    nuki = seam.devices.list(device_type="nuki_lock")[0].device_id
    with pytest.raises(SeamHttpInvalidInputError, match="supported lengths: 6"):
        seam.access_codes.create(device_id=nuki, code="4821")
    with pytest.raises(SeamHttpInvalidInputError, match="no_zeros"):
        seam.access_codes.create(device_id=nuki, code="482105")
    with pytest.raises(SeamHttpInvalidInputError, match="cannot_start_with_12"):
        seam.access_codes.create(device_id=nuki, code="123456")
    igloo = seam.devices.list(device_type="igloohome_lock")[0].device_id
    with pytest.raises(SeamHttpInvalidInputError, match="start_date_in_future"):
        seam.access_codes.create(
            device_id=igloo, starts_at="2024-12-30T00:00:00Z", ends_at="2025-01-05T00:00:00Z"
        )
    kwikset = seam.devices.list(device_type="kwikset_lock")[0].device_id
    with pytest.raises(SeamHttpInvalidInputError, match="name_length"):
        seam.access_codes.create(device_id=kwikset, name="A")


def test_duplicate_pin_is_409_unless_windows_do_not_overlap(server: Harness) -> None:
    seam = server.seam()
    device_id = _august(seam)
    first = seam.access_codes.create(
        device_id=device_id,
        code="4821",
        starts_at="2025-01-01T00:00:00Z",
        ends_at="2025-01-05T00:00:00Z",
    )
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.create(device_id=device_id, code="4821")
    assert (info.value.code, info.value.status_code) == ("duplicate_access_code", 409)
    with pytest.raises(SeamHttpApiError):
        seam.access_codes.create(
            device_id=device_id,
            code="4821",
            starts_at="2025-01-04T00:00:00Z",
            ends_at="2025-01-06T00:00:00Z",
        )
    # pinwarden extension: the same PIN for a later, non-overlapping stay.
    later = seam.access_codes.create(
        device_id=device_id,
        code="4821",
        starts_at="2025-01-05T00:00:00Z",
        ends_at="2025-01-09T00:00:00Z",
    )
    assert later.code == first.code
    # Updates are checked the same way.
    other = seam.access_codes.create(device_id=device_id, code="5930")
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.update(access_code_id=other.access_code_id, code="4821")
    assert info.value.code == "duplicate_access_code"
    assert seam.access_codes.get(access_code_id=other.access_code_id).code == "5930"


def test_get_and_list_need_their_identifying_parameters(server: Harness) -> None:
    _, key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    for path, params in [
        ("/access_codes/get", {}),
        ("/access_codes/get", {"code": "1234"}),
        ("/access_codes/get", {"access_code_id": str(uuid.uuid4()), "code": "1234"}),
        ("/access_codes/list", {}),
        ("/events/list", {}),
        (
            "/events/list",
            {
                "since": "2024-01-01T00:00:00Z",
                "between": ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"],
            },
        ),
        ("/events/get", {}),
        ("/devices/get", {}),
    ]:
        response = http.post(path, json=params)
        assert response.status_code == 400, (path, params)
        assert response.json()["error"]["type"] == "invalid_input"


def test_update_rules(server: Harness) -> None:
    seam = server.seam()
    code = seam.access_codes.create(device_id=_august(seam), code="4821")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=code.access_code_id, type="time_bound")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(
            access_code_id=code.access_code_id, starts_at="2025-01-01T00:00:00Z"
        )
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=code.access_code_id, code="12")
    with pytest.raises(SeamHttpApiError) as info:
        seam.access_codes.update(
            access_code_id=code.access_code_id, device_id=str(uuid.uuid4()), name="x"
        )
    assert info.value.code == "access_code_not_found"
    unchanged = seam.access_codes.get(access_code_id=code.access_code_id)
    assert (unchanged.type, unchanged.code) == ("ongoing", "4821")


def test_edge_values_are_400_not_500(server: Harness) -> None:
    _, key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    device_id = http.get("/devices/list", params={"device_type": "august_lock"}).json()["devices"][
        0
    ]["device_id"]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/devices/list?custom_metadata_has=x&custom_metadata_has.floor=2", {}),
        (
            "POST",
            "/access_codes/create",
            {
                "device_id": device_id,
                "starts_at": "2025-01-01T00:00:00Z",
                "ends_at": "9999-12-31T23:59:59-05:00",
            },
        ),
        (
            "POST",
            "/access_codes/create",
            {
                "device_id": device_id,
                "starts_at": "0001-01-01T00:10:00Z",
                "ends_at": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "POST",
            "/events/list",
            {"between": ["0001-01-01T00:00:00+01:00", "2026-01-01T00:00:00Z"]},
        ),
        ("POST", "/access_codes/list", {"device_id": device_id, "limit": 10**30}),
        ("POST", "/events/list", {"since": "2024-01-01T00:00:00Z", "unstable_offset": 10**30}),
        ("POST", "/access_codes/create", {"device_id": device_id, "name": "nul\x00name"}),
        ("POST", "/access_codes/create", {"device_id": device_id, "common_code_key": "k" * 300}),
        ("POST", "/devices/update", {"device_id": device_id, "name": "n" * 300}),
        ("POST", "/access_codes/create", {"device_id": device_id, "code": "١٣٥٧"}),
        ("POST", "/events/get", {"event_type": "a\x00b"}),
    ]
    for method, path, body in cases:
        response = http.request(method, path, json=body or None)
        assert response.status_code == 400, (path, body, response.text)
        assert response.json()["error"]["type"] == "invalid_input"
        assert response.headers["seam-request-id"]
    assert http.request("TRACE", "/access_codes/get").json()["error"]["type"] == (
        "method_not_allowed"
    )


def test_extending_an_active_code_on_a_start_in_future_device(server: Harness) -> None:
    seam = server.seam()
    igloo = seam.devices.list(device_type="igloohome_lock")[0].device_id
    code = seam.access_codes.create(
        device_id=igloo, starts_at="2024-12-31T13:00:00Z", ends_at="2025-01-05T00:00:00Z"
    )
    server.advance(__import__("datetime").timedelta(hours=2))
    seam.access_codes.update(access_code_id=code.access_code_id, ends_at="2025-01-09T00:00:00Z")
    assert seam.access_codes.get(access_code_id=code.access_code_id).ends_at.startswith(
        "2025-01-09"
    )
    with pytest.raises(SeamHttpInvalidInputError, match="start_date_in_future"):
        seam.access_codes.update(
            access_code_id=code.access_code_id, starts_at="2024-12-31T12:00:00Z"
        )


def test_list_filters_the_sdk_may_send_alone(server: Harness) -> None:
    seam = server.seam()
    lock = seam.devices.list(device_type="august_lock")[0].device_id
    made = seam.access_codes.create(device_id=lock, name="Guest Smith", code="4821")
    assert [c.access_code_id for c in seam.access_codes.list(search="smith")] == [
        made.access_code_id
    ]
    assert seam.access_codes.list(device_id=lock, customer_key="c1") == []
    assert seam.events.list(since="2024-01-01T00:00:00Z", space_id=str(uuid.uuid4())) == []
    gate = seam.devices.list(search="Gate", limit=2)
    assert [d.device_type for d in gate] == ["igloohome_lock"]
    hubless = seam.client.get(
        "/devices/list", params={"exclude_if": ["can_simulate_hub_connection"], "limit": 3}
    )["devices"]
    assert len(hubless) == 3
    assert all(not d["can_simulate_hub_connection"] for d in hubless)
