"""The sealing key's life through the CLI: made on first start, required afterwards, and
rotated while ``pinwarden serve`` keeps answering."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from seam import Seam
from sqlalchemy import create_engine, text

from pinwarden.store.sealed import new_key, read_key_file
from tests.api.test_secrets_at_rest import _lock, _raw
from tests.processes import PINWARDEN, free_port, sandbox_key, serve, wait_until

_TOKEN = re.compile(rb"pw1\.([0-9a-f]{8})\.")


def _env(database_url: str, key_file: Path) -> dict[str, str]:
    """The environment of a process keyed by ``key_file``, on a database nothing has been
    sealed in yet (the fixture's was migrated under the tests' own key)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sealing_keys"))
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if k != "PINWARDEN_SECRET_KEY"}
    env["PINWARDEN_DATABASE_URL"] = database_url
    env["PINWARDEN_SECRET_KEY_FILE"] = str(key_file)
    env["PINWARDEN_SANDBOX_LATENCY_SECONDS"] = "0"
    return env


def _pinwarden(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PINWARDEN, *args], env=env, capture_output=True, text=True, timeout=120)


def _key_ids(database_url: str) -> set[bytes]:
    return set(_TOKEN.findall(_raw(database_url)))


def test_a_key_file_is_made_once_and_a_wrong_key_is_refused(
    tmp_path: Path, database_url: str
) -> None:
    key_file = tmp_path / "pinwarden.key"
    env = _env(database_url, key_file)
    sandbox_key(env)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(read_key_file(key_file)) == 1
    assert _pinwarden(env, "workspaces", "list").returncode == 0

    wrong = {**env, "PINWARDEN_SECRET_KEY": new_key()}
    out = _pinwarden(wrong, "workspaces", "list")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "sealed with key" in out.stderr and "PINWARDEN_SECRET_KEY" in out.stderr
    bad = _pinwarden({**env, "PINWARDEN_SECRET_KEY": "not-a-key"}, "workspaces", "list")
    assert bad.returncode != 0 and "32 bytes" in bad.stderr and "Traceback" not in bad.stderr


def test_rotation_reseals_everything_while_the_service_runs(
    tmp_path: Path, database_url: str
) -> None:
    key_file = tmp_path / "pinwarden.key"
    env = _env(database_url, key_file)
    api_key = sandbox_key(env)
    port = free_port()
    proc = serve(env, port)
    try:
        seam = Seam(api_key=api_key, endpoint=f"http://127.0.0.1:{port}")

        def up() -> bool:
            try:
                return bool(seam.devices.list())
            except Exception:
                return False  # not listening yet

        wait_until(up, 30)
        lock = _lock(seam, "august_lock")
        first = seam.access_codes.create(device_id=lock, name="Before", code="735190")
        seam.webhooks.create(url="http://127.0.0.1:9/hook")
        wait_until(
            lambda: seam.access_codes.get(access_code_id=first.access_code_id).status == "set"
        )
        before = _key_ids(database_url)
        assert len(before) == 1

        out = _pinwarden(env, "keys", "rotate", "--batch", "2", "--settle-seconds", "1.5")
        assert out.returncode == 0, out.stderr
        assert "rows sealed again" in out.stderr
        keys_now = read_key_file(key_file)
        assert len(keys_now) == 1
        after = _key_ids(database_url)
        assert len(after) == 1 and after != before

        # The running process reads what was re-sealed, and seals new values with the new key.
        assert seam.access_codes.get(access_code_id=first.access_code_id).code == "735190"
        second = seam.access_codes.create(device_id=lock, name="After", code="246813")
        wait_until(
            lambda: seam.access_codes.get(access_code_id=second.access_code_id).status == "set"
        )
        assert _key_ids(database_url) == after
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert _pinwarden(env, "workspaces", "list").returncode == 0
