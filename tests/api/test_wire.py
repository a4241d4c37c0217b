"""The wire protocol: methods, parameter styles, envelopes, pagination, auth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from seam import Seam
from seam.exceptions import SeamHttpUnauthorizedError

from tests.conftest import Harness


def client(server: Harness) -> tuple[httpx.Client, Seam]:
    _, key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    return http, Seam(api_key=key, endpoint=server.endpoint)


def test_curl_style_post_everywhere_and_get_with_json_body(server: Harness) -> None:
    http, seam = client(server)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    created = http.post("/access_codes/create", json={"device_id": device_id, "code": "2468"})
    assert created.status_code == 200 and created.json()["ok"] is True
    cid = created.json()["access_code"]["access_code_id"]
    # Seeds 000/003 send GET with a JSON body.
    got = http.request("GET", "/access_codes/get", json={"access_code_id": cid})
    assert got.json()["access_code"]["code"] == "2468"
    listed = http.post("/access_codes/list", json={"device_id": device_id})
    assert [c["access_code_id"] for c in listed.json()["access_codes"]] == [cid]
    # Older SDKs POST updates and deletes.
    assert http.post("/access_codes/update", json={"access_code_id": cid, "name": "x"}).json()["ok"]
    assert http.patch("/access_codes/update", json={"access_code_id": cid, "name": "y"}).json()[
        "ok"
    ]
    deleted = http.post("/access_codes/delete", json={"access_code_id": cid})
    assert deleted.json()["action_attempt"]["action_type"] == "DELETE_ACCESS_CODE"


def test_every_response_has_a_request_id_and_json(server: Harness) -> None:
    http, _ = client(server)
    ok = http.get("/workspaces/get")
    bad = http.get("/devices/get", params={"device_id": "nope"})
    for response in (ok, bad):
        assert response.headers["seam-request-id"]
        assert response.headers["content-type"].startswith("application/json")


def test_other_methods_get_405_with_the_envelope(server: Harness) -> None:
    http, _ = client(server)
    response = http.delete("/access_codes/create")
    assert response.status_code == 405
    assert response.json() == {
        "error": {
            "type": "method_not_allowed",
            "message": "Method DELETE is not allowed here; use POST",
        },
        "ok": False,
    }
    assert http.put("/devices/get").status_code == 405


def test_unknown_path_is_a_404_envelope(server: Harness) -> None:
    http, _ = client(server)
    response = http.get("/nothing/here")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Bearer seam_unknown_secret", "Basic abc", "Bearer seam_test"],
)
def test_missing_or_bad_key_is_401(server: Harness, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{server.endpoint}/workspaces/get", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"
    assert response.json()["ok"] is False


def test_sdk_raises_unauthorized_for_a_wrong_secret(server: Harness) -> None:
    _, key = server.workspace()
    wrong = key[:-4] + ("0000" if not key.endswith("0000") else "1111")
    with pytest.raises(SeamHttpUnauthorizedError):
        Seam(api_key=wrong, endpoint=server.endpoint).workspaces.get()


def test_strict_query_rejects_unknown_parameters_and_parses_arrays(server: Harness) -> None:
    http, seam = client(server)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    ids = [
        seam.access_codes.create(device_id=device_id, code=pin).access_code_id
        for pin in ("2468", "3579")
    ]
    query = "&".join(f"access_code_ids={i}" for i in ids) + "&_strict=true"
    listed = http.get(f"/access_codes/list?{query}").json()["access_codes"]
    assert sorted(c["access_code_id"] for c in listed) == sorted(ids)
    bad = http.get(f"/access_codes/list?device_id={device_id}&colour=red&_strict=true")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_input"
    # Without _strict, legacy comma-separated arrays work.
    legacy = http.get(f"/access_codes/list?access_code_ids={','.join(ids)}").json()
    assert len(legacy["access_codes"]) == 2


def test_empty_query_value_means_null(server: Harness) -> None:
    http, seam = client(server)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    response = http.get(f"/access_codes/list?device_id={device_id}&page_cursor=&_strict=true")
    assert response.status_code == 200


def test_non_json_body_is_invalid_content_type(server: Harness) -> None:
    http, _ = client(server)
    response = http.post(
        "/access_codes/create", content=b"device_id=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_content_type"


def test_malformed_json_and_non_object_bodies_are_invalid_input(server: Harness) -> None:
    http, _ = client(server)
    for body in (b"{not json", b"[1, 2]"):
        response = http.post(
            "/access_codes/create", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_input"


def test_pagination_through_the_sdk_paginator(server: Harness) -> None:
    _, seam = client(server)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    made = {seam.access_codes.create(device_id=device_id).access_code_id for _ in range(7)}
    first = seam.access_codes.list(device_id=device_id, limit=3)
    assert len(first) == 3 and first.pagination["has_next_page"]
    assert first.pagination["next_page_url"] is not None
    paginator = seam.create_paginator(seam.access_codes.list, {"device_id": device_id, "limit": 3})
    seen = [c.access_code_id for c in paginator.flatten()]
    assert len(seen) == 7 and set(seen) == made


def test_cursor_reused_with_other_filters_is_rejected(server: Harness) -> None:
    http, seam = client(server)
    devices = seam.devices.list()
    device_id = devices[0].device_id
    for _ in range(3):
        seam.access_codes.create(device_id=device_id)
    page = http.get("/access_codes/list", params={"device_id": device_id, "limit": 1}).json()
    cursor = page["pagination"]["next_page_cursor"]
    other = http.get(
        "/access_codes/list",
        params={"device_id": devices[1].device_id, "limit": 1, "page_cursor": cursor},
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "mismatched_page_parameters"
    garbage = http.get("/access_codes/list", params={"device_id": device_id, "page_cursor": "%%%"})
    assert garbage.status_code == 400


def test_validation_errors_follow_the_zod_tree(server: Harness) -> None:
    http, _ = client(server)
    response = http.post("/access_codes/create", json={"device_id": "not-a-uuid", "code": "12ab"})
    error = response.json()["error"]
    assert response.status_code == 400 and error["type"] == "invalid_input"
    assert error["validation_errors"]["device_id"]["_errors"] == ["Invalid uuid"]
    assert error["validation_errors"]["code"]["_errors"]
    assert error["message"].startswith("2 Input Errors: ")
    missing = http.post("/access_codes/create", json={}).json()["error"]
    assert missing["message"] == "device_id is required"


def test_unexpected_failure_is_a_500_envelope_with_request_id(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from pinwarden.api.wire import Endpoint, NoParams, mount
    from pinwarden.service import Service
    from tests.conftest import make_settings

    def boom(_ctx: object, _params: object) -> dict[str, object]:
        raise RuntimeError("kaput")

    service = Service(make_settings(database_url))
    _, key = service.create_workspace("x", sandbox=True)
    mount(service.app, service.services, [Endpoint("/boom", ("GET",), NoParams, boom)])
    with TestClient(service.app, raise_server_exceptions=False) as http:
        response = http.get("/boom", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"type": "internal_server_error", "message": "Internal server error"},
        "ok": False,
    }
    assert "kaput" not in response.text
    assert response.headers["seam-request-id"].startswith("req_")


def _post_flaky(database_url: str, body: Any) -> tuple[int, int, str]:
    """POST once to an extra write endpoint whose handler runs ``body(service, ctx,
    attempt)``; returns the status, how many attempts ran, and the workspace's name."""
    from fastapi.testclient import TestClient

    from pinwarden.api.wire import Endpoint, NoParams, mount
    from pinwarden.service import Service
    from pinwarden.store.tables import Workspace
    from tests.conftest import make_settings

    service = Service(make_settings(database_url))
    workspace_id, key = service.create_workspace("x", sandbox=True)
    attempts = 0

    def flaky(ctx: Any, _params: object) -> dict[str, object]:
        nonlocal attempts
        attempts += 1
        body(service, ctx, attempts)
        return {}

    mount(service.app, service.services, [Endpoint("/flaky", ("POST",), NoParams, flaky)])
    with TestClient(service.app, raise_server_exceptions=False) as http:
        status = http.post("/flaky", headers={"Authorization": f"Bearer {key}"}).status_code
    with service.db.read() as s:
        name = s.get(Workspace, workspace_id).name  # type: ignore[union-attr]
    return status, attempts, name


def _deadlock() -> Exception:
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    # What SQLAlchemy raises when PostgreSQL picks the transaction to break a deadlock.
    return OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def _mark(session: Any, workspace_id: str, mark: str) -> None:
    from sqlalchemy import update

    from pinwarden.store.tables import Workspace

    session.execute(
        update(Workspace)
        .where(Workspace.workspace_id == workspace_id)
        .values(name=Workspace.name + mark)
    )


def test_a_write_rolled_back_to_break_a_deadlock_runs_again(database_url: str) -> None:
    def body(service: Any, ctx: Any, attempt: int) -> None:
        with service.db.write() as s:
            _mark(s, ctx.workspace_id, "!")
            if attempt < 3:
                raise _deadlock()  # the transaction rolls back with its mark

    assert _post_flaky(database_url, body) == (200, 3, "x!")


def test_a_deadlock_after_a_commit_is_not_run_again(database_url: str) -> None:
    def body(service: Any, ctx: Any, _attempt: int) -> None:
        with service.db.write() as s:
            _mark(s, ctx.workspace_id, "?")  # committed: running again would repeat it
        raise _deadlock()

    assert _post_flaky(database_url, body) == (500, 1, "x?")


def test_a_write_that_deadlocks_every_time_fails_after_three_attempts(database_url: str) -> None:
    def body(_service: Any, _ctx: Any, _attempt: int) -> None:
        raise _deadlock()

    assert _post_flaky(database_url, body) == (500, 3, "x")
