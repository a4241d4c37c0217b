"""The CLI that shows state (devices, codes, events, workspaces, API keys) and revokes keys,
run as real processes against the database a running server uses."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from seam import Seam

from tests.conftest import Harness
from tests.pins import shows_pin
from tests.processes import PINWARDEN, free_port, sandbox_key, serve, wait_until

SECOND = timedelta(seconds=1)


def _cli(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PINWARDEN_DATABASE_URL=url)
    return subprocess.run(
        [*PINWARDEN, *args], env=env, capture_output=True, text=True, check=check, timeout=60
    )


def _json(url: str, *args: str) -> Any:
    return json.loads(_cli(url, *args, "--json").stdout)


def test_listings_show_what_the_api_made_and_mask_pins(server: Harness) -> None:
    url = server.service.settings.database_url
    workspace_id, key = server.workspace()
    seam = server.seam(key)
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    code = seam.access_codes.create(device_id=device_id, name="guest", code="4821")
    server.advance(SECOND)

    workspaces = _json(url, "workspaces", "list")
    mine = next(w for w in workspaces if w["workspace_id"] == workspace_id)
    assert mine["is_sandbox"] is True and mine["active_api_keys"] == 1 and mine["devices"] > 0

    devices = _json(url, "devices", "list", "--workspace", workspace_id)
    assert {d["device_id"] for d in devices} == {d.device_id for d in seam.devices.list()}

    codes = _json(url, "codes", "list", "--device", device_id)
    assert [(c["access_code_id"], c["status"], c["code"]) for c in codes] == [
        (code.access_code_id, "set", "••••")
    ]
    shown = _json(url, "codes", "list", "--device", device_id, "--show-codes")
    assert shown[0]["code"] == "4821"
    table = _cli(url, "codes", "list", "--device", device_id).stdout
    assert code.access_code_id in table and not shows_pin("4821", table) and "guest" in table
    assert "4821" in _cli(url, "codes", "list", "--show-codes").stdout

    events = [
        json.loads(line) for line in _cli(url, "events", "tail", "--json").stdout.splitlines()
    ]
    assert [e["event_type"] for e in events][-2:] == [
        "access_code.created",
        "access_code.set_on_device",
    ]
    assert workspace_id in _cli(url, "workspaces", "list").stdout


def test_a_revoked_key_is_refused_at_once(server: Harness) -> None:
    url = server.service.settings.database_url
    workspace_id, key = server.workspace()
    _other_workspace, other_key = server.workspace()
    http = httpx.Client(base_url=server.endpoint, headers={"Authorization": f"Bearer {key}"})
    assert http.get("/workspaces/get").status_code == 200  # and now it is verified once

    keys = _json(url, "api-key", "list", "--workspace", workspace_id)
    assert len(keys) == 1 and keys[0]["revoked_at"] is None
    assert key.startswith(keys[0]["prefix"])
    assert key.split("_")[2] not in json.dumps(keys)  # the secret is nowhere

    _cli(url, "api-key", "revoke", keys[0]["key_id"])
    refused = http.get("/workspaces/get")
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "unauthorized"
    other = Seam(api_key=other_key, endpoint=server.endpoint)
    assert other.workspaces.get().workspace_id == _other_workspace

    listed = _json(url, "api-key", "list", "--workspace", workspace_id)
    assert listed[0]["revoked_at"] is not None
    again = _cli(url, "api-key", "revoke", key)  # the whole key works too
    assert "already revoked" in again.stderr
    missing = _cli(url, "api-key", "revoke", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no API key nope"
    assert _cli(url, "api-key", "list", "--workspace", "nope", check=False).returncode == 1


def test_events_tail_follows_until_ctrl_c(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tail.db'}"
    env = dict(os.environ, PINWARDEN_DATABASE_URL=url, PINWARDEN_SANDBOX_LATENCY_SECONDS="0")
    key = sandbox_key(env)
    port = free_port()
    server = serve(env, port)
    tail = subprocess.Popen(
        [*PINWARDEN, "events", "tail", "--follow", "--json", "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert tail.stdout is not None
        for line in tail.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        seam = Seam(api_key=key, endpoint=f"http://127.0.0.1:{port}")

        def up() -> bool:
            try:
                seam.workspaces.get()
            except Exception:
                return False  # not listening yet
            return True

        wait_until(up, 30)
        device_id = seam.devices.list(device_type="august_lock")[0].device_id
        code = seam.access_codes.create(device_id=device_id, code="4821")
        seen: list[dict[str, Any]] = []

        def landed() -> bool:
            while not lines.empty():
                seen.append(json.loads(lines.get()))
            return "access_code.set_on_device" in [e["event_type"] for e in seen]

        wait_until(landed, 30)
        assert seen[0]["event_type"] == "access_code.created"
        assert seen[0]["access_code_id"] == code.access_code_id
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=20) == 0
        assert tail.stderr is not None and "Traceback" not in tail.stderr.read()
    finally:
        for proc in (tail, server):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
