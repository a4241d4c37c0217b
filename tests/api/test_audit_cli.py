"""``pinwarden audit`` and ``pinwarden api-key`` as real processes against the database a
running server uses (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpUnauthorizedError

from pinwarden.cli import cli_user
from tests.api.test_state_cli import _cli, _json
from tests.conftest import Harness
from tests.pins import shows_pin


def test_api_key_lifecycle_and_audit_from_the_cli(server: Harness) -> None:
    url = server.service.settings.database_url
    workspace_id, key = server.workspace()
    seam = server.seam(key)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    code = seam.access_codes.create(device_id=device_id, name="guest", code="4821")
    seam.access_codes.update(access_code_id=code.access_code_id, code="7390")

    made = json.loads(
        _cli(
            url,
            "api-key",
            "create",
            "--workspace",
            workspace_id,
            "--name",
            "wall display",
            "--expires",
            "90d",
            "--read-only",
        ).stdout
    )
    assert made["name"] == "wall display" and made["is_read_only"] is True
    expires = datetime.fromisoformat(made["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    viewer = Seam(api_key=made["api_key"], endpoint=server.endpoint)
    assert viewer.access_codes.get(access_code_id=code.access_code_id).name == "guest"
    with pytest.raises(SeamHttpApiError) as info:
        viewer.access_codes.delete(access_code_id=code.access_code_id)
    assert info.value.status_code == 403

    keys = {k["key_id"]: k for k in _json(url, "api-key", "list", "--workspace", workspace_id)}
    shown = keys[made["api_key_id"]]
    assert (shown["name"], shown["is_read_only"]) == ("wall display", True)
    assert shown["last_used_at"] is not None and shown["expires_at"] == made["expires_at"]
    table = _cli(url, "api-key", "list", "--workspace", workspace_id).stdout
    assert "wall display" in table and made["api_key"].rsplit("_", 1)[1] not in table

    past = _cli(
        url,
        "api-key",
        "create",
        "--workspace",
        workspace_id,
        "--expires",
        "2001-01-01",
        check=False,
    )
    assert past.returncode == 1 and "not in the future" in past.stderr
    _cli(url, "api-key", "revoke", made["api_key_id"])
    with pytest.raises(SeamHttpUnauthorizedError):
        viewer.access_codes.list(device_id=device_id)

    # The trail: the API's writes by key, the CLI's by the CLI user.
    trail = _json(url, "audit", "--workspace", workspace_id)
    by_code = [
        e
        for e in _json(url, "audit", "--access-code", code.access_code_id)
        if e["object_type"] == "access_code"
    ]
    assert [(e["action"], e["object_type"]) for e in by_code] == [
        ("/access_codes/create", "access_code"),
        ("/access_codes/update", "access_code"),
    ]
    assert by_code[1]["changes"]["code"] == {"from": "****", "to": "****"}
    assert all(e["actor"] == {"type": "api_key", "id": key.split("_")[1]} for e in by_code)
    assert _json(url, "audit", "--device", device_id) == [
        e for e in trail if e["device_id"] == device_id
    ]
    cli_entries = _json(url, "audit", "--actor", cli_user())
    mine = [e for e in cli_entries if e["object_id"] == made["api_key_id"]]
    assert [(e["action"], e["operation"]) for e in mine] == [
        ("api-key create", "create"),
        ("api-key revoke", "update"),
    ]
    assert all(e["actor"]["type"] == "cli" and e["workspace_id"] == workspace_id for e in mine)
    assert _json(url, "audit", "--since", "2999-01-01T00:00:00Z") == []
    assert not shows_pin("4821", json.dumps(trail)) and not shows_pin("7390", json.dumps(trail))
    text = _cli(url, "audit", "--access-code", code.access_code_id).stdout
    assert "/access_codes/update" in text
    assert not shows_pin("4821", text) and not shows_pin("7390", text)
    bad = _cli(url, "audit", "--since", "yesterday", check=False)
    assert bad.returncode == 1 and "--since" in bad.stderr
