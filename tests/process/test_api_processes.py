"""``pinwarden serve --processes 2``: two API processes on one port, the background loops in
the process that started them, on SQLite (datagram wake-ups) and PostgreSQL (NOTIFY).

Real processes on the real clock. The idle poll is ten minutes, so only a cross-process
wake-up can make the engine or the deliverer act on an API process's write within the
bounds below. Each request names the process it goes to: the test keeps one keep-alive
connection per API process, found by asking the kernel which process holds the server
end of a connection (Linux's /proc).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seam import Seam

from tests.processes import PINWARDEN, free_port, sandbox_key, wait_until
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

AUTH_FAILURE_LIMIT = 8
CREATES_PER_MINUTE = 3


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.update(int(p) for p in (task / "children").read_text().split())
    return children


def _socket_inode(server_port: int, client_port: int) -> str:
    """The inode of the server end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    raise AssertionError(f"no server end for client port {client_port}")


def _holder(inode: str, pids: set[int]) -> int | None:
    """Which of ``pids`` holds socket ``inode``."""
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    return None


class Api:
    """A keep-alive connection to one API process."""

    def __init__(self, conn: http.client.HTTPConnection, pid: int) -> None:
        self.conn = conn
        self.pid = pid

    def call(self, path: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """POST ``body`` as JSON (GET without one); the status and the decoded answer."""
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if body is None:
            self.conn.request("GET", path, headers=headers)
        else:
            self.conn.request("POST", path, json.dumps(body), headers)
        response = self.conn.getresponse()
        raw = response.read()
        if response.getheader("content-type", "").startswith("application/json"):
            return response.status, json.loads(raw)
        return response.status, raw.decode()


def _one_per_process(port: int, server: int, key: str, count: int) -> list[Api]:
    """Open connections until each of the server's ``count`` API processes holds one."""
    found: dict[int, Api] = {}
    for _ in range(400):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        api = Api(conn, 0)
        # Answered, so accepted: now one process holds the server end.
        assert api.call("/workspaces/get", key)[0] == 200
        assert conn.sock is not None
        pid = _holder(_socket_inode(port, conn.sock.getsockname()[1]), _children(server))
        assert pid is not None
        if pid in found:
            conn.close()
            continue
        api.pid = pid
        found[pid] = api
        if len(found) == count:
            return list(found.values())
    raise AssertionError(f"connections reached only {len(found)} of {count} processes")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _metric(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} ([0-9.e+]+)$", text, re.M)
    assert match, pattern
    return float(match.group(1))


def _serve_two(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """``serve`` with two API processes, its stdout (the ``listening on`` line) readable."""
    return subprocess.Popen(
        [*PINWARDEN, "serve", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_two_api_processes_share_the_engine_the_limits_and_the_keys(
    database_url: str, receiver: Receiver
) -> None:
    env = dict(os.environ)
    env.update(
        PINWARDEN_DATABASE_URL=database_url,
        PINWARDEN_SANDBOX_LATENCY_SECONDS="0.05",
        PINWARDEN_IDLE_POLL_SECONDS="600",
        PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE=str(CREATES_PER_MINUTE),
        PINWARDEN_AUTH_FAILURE_LIMIT=str(AUTH_FAILURE_LIMIT),
    )
    key = sandbox_key(env)
    port = free_port()
    server = _serve_two(env, port)
    try:
        assert server.stdout is not None
        # Said once, when both API processes serve.
        assert server.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}"
        a, b = _one_per_process(port, server.pid, key, 2)
        assert a.pid != b.pid and server.pid not in (a.pid, b.pid)
        seam = Seam(api_key=key, endpoint=f"http://127.0.0.1:{port}")
        status, _ = a.call(
            "/webhooks/create",
            key,
            {"url": receiver.url, "event_types": ["access_code.created"]},
        )
        assert status == 200
        locks = [
            d.device_id
            for d in seam.devices.list()
            if "access_code" in str(d.capabilities_supported)
        ]
        assert len(locks) >= 3

        # A create through either process is programmed by the engine in the third.
        made = []
        for api, lock in ((a, locks[0]), (b, locks[1])):
            status, body = api.call(
                "/access_codes/create", key, {"device_id": lock, "name": "Guest"}
            )
            assert status == 200, body
            made.append(body["access_code"]["access_code_id"])
        for code in made:
            wait_until(lambda c=code: seam.access_codes.get(access_code_id=c).status == "set", 20)
        # Their events reach the receiver through the deliverer, also in the third.
        wait_until(lambda: len(receiver.bodies()) >= 2, 20)
        assert {json.loads(body)["access_code_id"] for body in receiver.bodies()} == set(made)

        # The per-device limit counts both processes' admissions together.
        answers = [
            api.call("/access_codes/create", key, {"device_id": locks[2], "name": "Cleaner"})[0]
            for api in (a, b, a, b, a)
        ]
        assert answers == [200] * CREATES_PER_MINUTE + [429] * (5 - CREATES_PER_MINUTE)

        # A key revoked through one process is refused by both from the next request on.
        status, body = a.call("/api_keys/create", key, {"name": "short-lived"})
        assert status == 200, body
        other = body["api_key"]["token"]
        assert a.call("/devices/list", other, {})[0] == 200
        assert b.call("/devices/list", other, {})[0] == 200
        assert b.call("/api_keys/revoke", key, {"api_key_id": other})[0] == 200
        assert a.call("/devices/list", other, {})[0] == 401
        assert b.call("/devices/list", other, {})[0] == 401

        # /metrics through either process sums both API processes and the engine.
        scraped = [api.call("/metrics", key)[1] for api in (a, b)]
        creates = (
            r'pinwarden_http_requests_total\{method="POST",route="/access_codes/create",'
            r'status="200"\}'
        )
        assert {_metric(text, creates) for text in scraped} == {2.0 + CREATES_PER_MINUTE}
        for text in scraped:
            assert _metric(text, r'pinwarden_reconciles_total\{outcome="ok"\}') >= 2

        # Bad keys: each process guards with half the limit, so together they let through
        # about the limit (the two refused revoked-key requests above count), then both
        # hold the address back. About: a score decays between requests, so each process
        # lets one more through, as a single process's guard does.
        bad = "seam_nosuchkey_0123456789"
        refused_as_bad = 2
        held: set[int] = set()
        for _ in range(2 * AUTH_FAILURE_LIMIT):
            for api in (a, b):
                status = api.call("/devices/list", bad, {})[0]
                if status == 401:
                    refused_as_bad += 1
                else:
                    assert status == 429
                    held.add(api.pid)
        assert held == {a.pid, b.pid}
        assert refused_as_bad <= AUTH_FAILURE_LIMIT + 2

        server.send_signal(signal.SIGTERM)
        # Graceful, then by the signal, as a single uvicorn process ends.
        assert server.wait(timeout=60) == -signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_several_processes_need_a_database_that_outlives_one(tmp_path: Path) -> None:
    env = dict(os.environ, PINWARDEN_DATABASE_URL="sqlite://")
    refused = subprocess.run(
        [*PINWARDEN, "serve", "--port", str(free_port()), "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "in-memory" in refused.stderr


def test_the_api_processes_end_with_a_server_that_was_killed(tmp_path: Path) -> None:
    env = dict(os.environ, PINWARDEN_DATABASE_URL=f"sqlite:///{tmp_path / 'pinwarden.db'}")
    key = sandbox_key(env)
    port = free_port()
    server = _serve_two(env, port)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("listening on")
        apis = {api.pid for api in _one_per_process(port, server.pid, key, 2)}
    finally:
        server.kill()
        server.wait(timeout=10)
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in apis), 30)
