"""The official Seam JavaScript SDK (npm ``seam``, pinned in tests/js_sdk) against pinwarden.

``tests/js_sdk/flows.mjs`` runs the flows and asserts their results; this test serves it a
sandbox workspace on the fake clock. The script never waits on time: when a flow needs
time to pass it prints ``@@pinwarden {"ask": ...}`` and blocks on stdin, and the test
settles the worker, moves the clock and answers with one JSON line. So every run sees the
same states, and the SDK's own polling for action attempts (1 s interval) only ever
waits for work the worker does at once.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness
from tests.npm import find_node_and_npm, npm_ci
from tests.webhooks.receiver import Receiver

JS_SDK = Path(__file__).resolve().parent.parent / "js_sdk"
ASK = "@@pinwarden "
# The whole script, lock waits included; it takes a few seconds.
DEADLINE = 180.0


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the pinned SDK installed into tests/js_sdk."""
    tools = find_node_and_npm()
    if tools is None:
        pytest.skip("node and npm are needed for the JS SDK test; install Node.js 20 or newer")
    npm_ci(JS_SDK, tools[1])
    return tools[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.close()


def _answer(server: Harness, receiver: Receiver, request: dict[str, Any]) -> dict[str, Any]:
    match request:
        case {"ask": "advance", "seconds": int() | float() as seconds}:
            server.advance(timedelta(seconds=seconds))
            return {"ok": True}
        case {"ask": "settle"}:
            server.settle()
            return {"ok": True}
        case {"ask": "webhook_url"}:
            return {"url": receiver.url}
        case {"ask": "webhook_requests"}:
            server.settle()
            with receiver.lock:
                requests = [
                    {"headers": {k.lower(): v for k, v in r.headers.items()}, "body": r.body}
                    for r in receiver.requests
                ]
            return {"requests": requests}
    raise AssertionError(f"the script asked for something unknown: {request}")


def test_the_official_js_sdk_flows(node: str, server: Harness, receiver: Receiver) -> None:
    _, api_key = server.workspace()
    env = {**os.environ, "PINWARDEN_ENDPOINT": server.endpoint, "PINWARDEN_API_KEY": api_key}
    script = subprocess.Popen(
        [node, "flows.mjs"],
        cwd=JS_SDK,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert script.stdin is not None and script.stdout is not None
    # A reader thread, so a hung script fails the test at the deadline instead of hanging it.
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stdout: Any) -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, args=(script.stdout,), daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("the JS SDK script did not finish in time:\n" + "".join(output))
            if line is None:
                break
            if line.startswith(ASK):
                reply = _answer(server, receiver, json.loads(line[len(ASK) :]))
                script.stdin.write(json.dumps(reply) + "\n")
                script.stdin.flush()
            else:
                output.append(line)
        code = script.wait(timeout=30)
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
    assert code == 0, "the JS SDK script failed:\n" + "".join(output)
    assert "all JS SDK flows passed" in "".join(output)
