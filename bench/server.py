"""Start ``pinwarden serve`` on a fresh SQLite file for a benchmark, as a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def start_server(
    workdir: Path,
    database_url: str | None = None,
    env_extra: dict[str, str] | None = None,
    processes: int | None = None,
) -> tuple[subprocess.Popen[bytes], str, str]:
    """A running server with a sandbox workspace: ``(process, base_url, api_key)``.

    On a fresh SQLite file unless ``database_url`` is given (a new workspace there);
    ``processes``: ``serve --processes N`` (None: the default)."""
    env = dict(os.environ)
    env["PINWARDEN_DATABASE_URL"] = database_url or f"sqlite:///{workdir / 'bench.db'}"
    env["PINWARDEN_SECRET_KEY_FILE"] = str(workdir / "bench.key")
    env.update(env_extra or {})
    # Throughput is measured on one lock: Seam's per-device limits would cap it at 10/min.
    env.setdefault("PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE", "0")
    env.setdefault("PINWARDEN_RATE_LIMIT_UPDATES_PER_MINUTE", "0")
    env.setdefault("PINWARDEN_RATE_LIMIT_DELETES_PER_MINUTE", "0")
    made = subprocess.run(
        [sys.executable, "-m", "pinwarden", "sandbox", "create", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(made.stdout)["api_key"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    extra = [] if processes is None else ["--processes", str(processes)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinwarden", "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/workspaces/get", headers={"Authorization": f"Bearer {key}"})
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, base, key
