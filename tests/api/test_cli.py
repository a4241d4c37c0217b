"""The ``pinwarden`` command as a user runs it: real processes, real clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from seam import Seam

from tests.processes import PINWARDEN, free_port, wait_until


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PINWARDEN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["PINWARDEN_SANDBOX_LATENCY_SECONDS"] = "0"
    return env


def test_sandbox_create_prints_only_json(tmp_path: Path) -> None:
    out = subprocess.run(
        [*PINWARDEN, "sandbox", "create", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data = json.loads(out.stdout)
    assert set(data) == {"workspace_id", "api_key"}
    assert data["api_key"].startswith("seam_test")


def test_workspace_and_api_key_commands(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = json.loads(
        subprocess.run(
            [*PINWARDEN, "workspace", "create", "Acme"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert not made["api_key"].startswith("seam_test")
    extra = json.loads(
        subprocess.run(
            [*PINWARDEN, "api-key", "create", "--workspace", made["workspace_id"]],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert extra["api_key"] != made["api_key"]
    missing = subprocess.run(
        [*PINWARDEN, "api-key", "create", "--workspace", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1


def test_serve_sandbox_prints_a_key_the_sdk_can_use(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*PINWARDEN, "serve", "--sandbox", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        key = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if "API key" in line:
                key = next(w for w in line.split() if w.startswith("seam_"))
                break
        assert key is not None
        seam = Seam(api_key=key, endpoint=f"http://127.0.0.1:{port}")

        def locks() -> list[Any] | None:
            try:
                return list(seam.devices.list(device_type="august_lock"))
            except Exception:
                return None  # not listening yet

        wait_until(locks, 60)
        devices = locks()
        assert devices
        code = seam.access_codes.create(device_id=devices[0].device_id, code="4821")
        # Real clock, zero simulated latency: the worker sets it within moments.
        wait_until(
            lambda: seam.access_codes.get(access_code_id=code.access_code_id).status == "set", 5
        )
        assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _up(seam: Seam) -> bool:
    try:
        seam.workspaces.get()
    except Exception:
        return False  # not listening yet
    return True


def test_connect_creates_an_account_that_never_shows_its_configuration(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = json.loads(
        subprocess.run(
            [*PINWARDEN, "sandbox", "create", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    out = subprocess.run(
        [
            *PINWARDEN,
            "connect",
            "sandbox",
            "--workspace",
            made["workspace_id"],
            "--option",
            "password=hunter2-secret",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    account_id = json.loads(out.stdout)["connected_account_id"]
    assert "hunter2" not in out.stdout + out.stderr
    unknown = subprocess.run(
        [*PINWARDEN, "connect", "no-such-driver", "--workspace", made["workspace_id"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and unknown.stdout == ""
    port = free_port()
    server = subprocess.Popen(
        [*PINWARDEN, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seam = Seam(api_key=made["api_key"], endpoint=f"http://127.0.0.1:{port}")
        wait_until(lambda: _up(seam), 60)
        account = seam.client.post(
            "/connected_accounts/get", json={"connected_account_id": account_id}
        )
        assert account["connected_account"]["account_type"] == "sandbox"
        listed = json.dumps(seam.client.post("/connected_accounts/list", json={}))
        assert "hunter2" not in json.dumps(account) + listed
        assert seam.devices.list(connected_account_id=account_id) == []
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert "hunter2" not in err


def test_worker_says_where_it_works_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [*PINWARDEN, "worker"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        shown = next((line for line in proc.stderr if line.startswith("pinwarden worker on")), "")
        assert shown.split()[-1:] == [env["PINWARDEN_DATABASE_URL"]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
