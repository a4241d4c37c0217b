"""A real Z-Wave stack for tests, on zwave-js's own mock controller.

The stack, as production runs it except for the radio::

    zwave_js_server (Python client) --ws--> zwave-server (@zwave-js/server, npm)
        --> zwave-js driver --serial over TCP--> mock_locks.mjs
            (zwave-js MockController + MockNode door locks, @zwave-js/testing)

``mock_locks.mjs`` declares each lock by its command-class capabilities (Version,
Manufacturer Specific, User Code, Door Lock v4, Notification v8 with Access Control,
Battery). The stock zwave-js mock behaviours answer User Code Set/Get and Door Lock
Operation Set/Get and keep the lock's memory in the mock node's ``state`` Map; the
control API reads that memory back, so a test sees what the lock itself holds, not what
zwave-js believes. The control API also injects what a person at the door does (keypad
unlock with a user slot, manual lock, a code programmed at the keypad) and puts a lock
in a failure mode (dead, silent, masked).

Why the mock has its own TCP server instead of zwave-js's ``MockServer``: MockServer
hands every TCP chunk to the mock controller as exactly one serial frame. TCP merges
writes, so an ACK and the next frame often arrive in one chunk; the controller then
throws "does not start with SOF" and the mock dies (about half of all starts). The mock
re-frames the byte stream (single ACK/NAK/CAN bytes, SOF+LEN frames) before handing it
on. It also binds 127.0.0.1 and does not advertise over mDNS (zwave-server runs with
``--disable-dns-sd``).

One stack serves a whole test session (start-up takes seconds: every lock is interviewed,
all its user codes read): tests share it and call :meth:`ZWaveStack.reset` on the nodes
they use instead of restarting it.

PIN codes never go to a log from here: the control API's answers hold them, and callers
decide what to print.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from zwave_js_server.exceptions import BaseZwaveJSServerError

from tests.npm import find_node_and_npm, npm_ci
from tests.zwave_stack.client import connected

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
START_TIMEOUT = 60.0

Mode = Literal["alive", "dead", "silent", "masked"]


@dataclass(frozen=True)
class LockSpec:
    """One mock lock: its node id, user-code memory size and the codes it holds at start."""

    node_id: int
    num_users: int = 30
    user_code_version: int = 1
    # slot -> PIN already in the lock before pinwarden sees it (restored by reset()).
    codes: Mapping[int, str] = field(default_factory=dict)
    battery: int = 90


# The session stack: node 2 arrives with codes in its memory (onboarding must keep them),
# node 3 is an empty User Code v2 lock, node 4 a small (10-slot) empty lock.
DEFAULT_LOCKS: tuple[LockSpec, ...] = (
    LockSpec(2, codes={3: "4321", 7: "907856"}),
    LockSpec(3, user_code_version=2),
    LockSpec(4, num_users=10),
)


class StackError(RuntimeError):
    """The stack did not start, or the control API refused an operation."""


def _free_port() -> int:
    # zwave-server takes no port 0, so ask the OS for one it just freed.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path.name}: no log)"
    return f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])


class ZWaveStack:
    """The mock locks and zwave-server as two child processes, with the control API."""

    def __init__(
        self, workdir: Path, locks: Sequence[LockSpec] = DEFAULT_LOCKS, node: str = "node"
    ) -> None:
        self.workdir = workdir
        self.locks = {lock.node_id: lock for lock in locks}
        self.node = node
        self.ws_port = 0
        self.control_port = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        # Seconds from start() to every node ready; for reports and benchmarks.
        self.startup_seconds = 0.0

    # -- addresses -------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.locks)

    @property
    def mock_log(self) -> Path:
        return self.workdir / "mock_locks.log"

    @property
    def server_log(self) -> Path:
        return self.workdir / "zwave-server.log"

    # -- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        began = time.monotonic()
        deadline = began + timeout
        try:
            serial_port = self._start_mock(deadline)
            self._start_server(serial_port)
            self._wait_ready(deadline)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, StackError):
                raise StackError(f"{exc}\n{self.logs()}") from None
            raise
        self.startup_seconds = time.monotonic() - began

    def logs(self) -> str:
        return f"{_tail(self.mock_log)}\n{_tail(self.server_log)}"

    def stop(self) -> None:
        """SIGTERM each process group, SIGKILL what is still there after 5 s."""
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._procs.clear()

    def __enter__(self) -> ZWaveStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        # A fresh log per start: _start_mock reads the MOCK_READY line of this start only.
        with open(log, "wb") as out:
            # Own process group, so stop() reaches zwave-server's children too.
            proc = subprocess.Popen(
                args,
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                name = Path(str(proc.args[1])).name  # type: ignore[index]
                raise StackError(f"{name} exited with {proc.returncode}")

    def _start_mock(self, deadline: float) -> int:
        config = {
            "serialPort": 0,
            "controlPort": 0,
            "nodes": [
                {
                    "id": lock.node_id,
                    "numUsers": lock.num_users,
                    "userCodeVersion": lock.user_code_version,
                    "codes": {str(slot): code for slot, code in lock.codes.items()},
                    "battery": lock.battery,
                }
                for lock in self.locks.values()
            ],
        }
        config_path = self.workdir / "mock_locks.json"
        config_path.write_text(json.dumps(config))
        self._spawn([self.node, str(HERE / "mock_locks.mjs"), str(config_path)], self.mock_log)
        # The mock binds port 0 and prints the ports it got: no race for a free port.
        while time.monotonic() < deadline:
            self._check_alive()
            for line in self.mock_log.read_text(errors="replace").splitlines():
                if line.startswith("MOCK_READY "):
                    ready = json.loads(line.removeprefix("MOCK_READY "))
                    self.control_port = int(ready["controlPort"])
                    return int(ready["serialPort"])
            time.sleep(0.05)
        raise StackError("mock_locks did not report MOCK_READY in time")

    def _start_server(self, serial_port: int) -> None:
        cache = self.workdir / "zwave-cache"
        cache.mkdir(exist_ok=True)
        options = {
            # The mock speaks no S0/S2, but zwave-server refuses to start without a key.
            "securityKeys": {"S0_Legacy": "0102030405060708090a0b0c0d0e0f10"},
            "storage": {"cacheDir": str(cache)},
            # With the default (false) zwave-js 15 CLEARS every user code on a node's
            # first interview; a lock's pre-existing codes must survive onboarding.
            "interview": {"queryAllUserCodes": True},
            "logConfig": {"enabled": True, "level": "info", "forceConsole": True},
        }
        options_path = self.workdir / "driver-options.json"
        options_path.write_text(json.dumps(options))
        self.ws_port = _free_port()
        self._spawn(
            [
                self.node,
                str(NODE_MODULES / "@zwave-js" / "server" / "dist-esm" / "bin" / "server.js"),
                f"tcp://127.0.0.1:{serial_port}",
                "--config",
                str(options_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ws_port),
                "--disable-dns-sd",
            ],
            self.server_log,
        )

    def _wait_ready(self, deadline: float) -> None:
        """Poll zwave-server until the driver is up and every mock node is ready."""
        last = "zwave-server not answering yet"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                not_ready = asyncio.run(self._nodes_not_ready())
            except (BaseZwaveJSServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                last = f"zwave-server not answering ({type(exc).__name__})"
            else:
                if not not_ready:
                    return
                last = f"nodes not ready yet: {not_ready}"
            time.sleep(0.25)
        raise StackError(f"stack not ready within the deadline: {last}")

    async def _nodes_not_ready(self) -> list[int]:
        async with connected(self.ws_url, timeout=5) as client:
            assert client.driver is not None
            nodes = client.driver.controller.nodes
            return [i for i in self.node_ids if i not in nodes or not nodes[i].ready]

    # -- control API -----------------------------------------------------------------

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise StackError(f"{method} {path}: {exc.code} {detail}") from None

    def _post(self, node_id: int, op: str, **body: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"/nodes/{node_id}/{op}", body)
        return answer

    def state(self, node_id: int) -> dict[str, Any]:
        """The lock as it sees itself: codes (slot -> {status, code}), locked, mode, battery."""
        answer: dict[str, Any] = self._call("GET", f"/nodes/{node_id}")
        return answer

    def codes(self, node_id: int) -> dict[int, str]:
        """slot -> PIN for every occupied slot of the lock's own memory."""
        return {int(slot): entry["code"] for slot, entry in self.state(node_id)["codes"].items()}

    def locked(self, node_id: int) -> bool:
        return bool(self.state(node_id)["locked"])

    def reset(self, node_id: int, codes: Mapping[int, str] | None = None) -> dict[str, Any]:
        """Alive, door locked, memory holding `codes` (default: the lock's declared codes).

        Only the mock changes: zwave-js keeps its cached values until it reads again."""
        if codes is None:
            codes = self.locks[node_id].codes
        return self._post(node_id, "reset", codes={str(s): c for s, c in codes.items()})

    def reset_all(self) -> None:
        for node_id in self.node_ids:
            self.reset(node_id)

    def set_mode(self, node_id: int, mode: Mode) -> dict[str, Any]:
        """alive | dead (acknowledges nothing) | silent (ACKs User Code Set, stores nothing)
        | masked (User Code Report hides PINs as asterisks)."""
        return self._post(node_id, "mode", mode=mode)

    def set_battery(self, node_id: int, level: int) -> dict[str, Any]:
        """The level the next Battery Get reports (the mock sends no report by itself)."""
        return self._post(node_id, "battery", level=level)

    def keypad_unlock(self, node_id: int, slot: int) -> dict[str, Any]:
        """Someone unlocked with the code in `slot`: Access Control event 6 + door unsecured."""
        return self._post(node_id, "keypad-unlock", slot=slot)

    def keypad_lock(self, node_id: int, slot: int | None = None) -> dict[str, Any]:
        """Access Control event 5 (with the user id when given) + door secured."""
        body = {} if slot is None else {"slot": slot}
        return self._post(node_id, "keypad-lock", **body)

    def manual_lock(self, node_id: int) -> dict[str, Any]:
        """Thumb-turn lock: Access Control event 1 + door secured."""
        return self._post(node_id, "manual-lock")

    def manual_unlock(self, node_id: int) -> dict[str, Any]:
        """Thumb-turn unlock: Access Control event 2 + door unsecured."""
        return self._post(node_id, "manual-unlock")

    def program_code(self, node_id: int, slot: int, code: str) -> dict[str, Any]:
        """A code entered at the keypad: memory written, Access Control event 0x0E sent."""
        return self._post(node_id, "program-code", slot=slot, code=code)

    def delete_code(self, node_id: int, slot: int) -> dict[str, Any]:
        """A code deleted at the keypad: memory cleared, Access Control event 0x0D sent."""
        return self._post(node_id, "delete-code", slot=slot)


@pytest.fixture(scope="session")
def zwave_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZWaveStack]:
    """One running stack for the session (see the module docstring); skipped without Node."""
    tools = find_node_and_npm()
    if tools is None:
        pytest.skip("node and npm are needed for the Z-Wave stack tests (Node.js >= 20)")
    node, npm = tools
    npm_ci(HERE, npm)
    stack = ZWaveStack(tmp_path_factory.mktemp("zwave_stack"), node=node)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
