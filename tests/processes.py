"""Helpers for tests that run ``pinwarden`` as a real process (on the wall clock)."""

from __future__ import annotations

import atexit
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

PINWARDEN = [sys.executable, "-m", "pinwarden"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_key(env: dict[str, str]) -> str:
    """Create a sandbox workspace with the CLI; its API key."""
    made = subprocess.run(
        [*PINWARDEN, "sandbox", "create", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return str(json.loads(made.stdout)["api_key"])


# Where each `serve` started here writes its stderr, by pid (see wait_answering); removed
# when the test process ends.
_SERVE_LOGS: dict[int, Path] = {}


@atexit.register
def _remove_serve_logs() -> None:
    for path in _SERVE_LOGS.values():
        path.unlink(missing_ok=True)


def serve(env: dict[str, str], port: int, *options: str) -> subprocess.Popen[bytes]:
    """Start ``pinwarden serve`` in the background, its stderr kept in a file."""
    with tempfile.NamedTemporaryFile(prefix="pinwarden-serve-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            [*PINWARDEN, "serve", "--port", str(port), *options],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    _SERVE_LOGS[proc.pid] = Path(log.name)
    return proc


def wait_answering(
    server: subprocess.Popen[bytes], http: httpx.Client, seconds: float = 60
) -> None:
    """Wait until ``server`` (from :func:`serve`) answers ``http``; fail with the end of its
    log as soon as it exits, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not answers(http):
        exited = server.poll() is not None
        if exited or time.monotonic() > deadline:
            log = _SERVE_LOGS[server.pid].read_text(errors="replace")[-3000:]
            state = f"exited with {server.returncode}" if exited else f"silent for {seconds} s"
            raise AssertionError(f"pinwarden serve {state} before answering; its log:\n{log}")
        time.sleep(0.05)


def worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``pinwarden worker`` in the background."""
    return subprocess.Popen(
        [*PINWARDEN, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_until(check: Callable[[], object], seconds: float = 60.0) -> None:
    """Poll ``check`` until it is truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def answers(http: httpx.Client) -> bool:
    """Whether the server is up and accepts the client's key."""
    try:
        return http.get("/workspaces/get").status_code == 200
    except httpx.HTTPError:
        return False
