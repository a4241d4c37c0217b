"""pinwarden against Seam's fake, side by side: req/s and p50/p99 of three read endpoints.

Starts ``pinwarden serve`` (its documented defaults, on a fresh SQLite file with sandbox
locks) and, with ``--with-fake``, Seam's in-memory fake (``@seamapi/fake-seam-connect``,
``node dist/server.js --seed``; fetched once with ``npm pack`` into ``bench/.cache``).
Each side gets one device with 50 access codes; then wrk (1 thread, 8 connections, 8 s
by default) drives ``access_codes/get``, ``access_codes/list`` (that device) and
``devices/get``, each as a POST with a JSON body and as a GET with the query string the
SDKs write (``…&_strict=true``), pinwarden first and the fake right after, so both are
measured in the same run on the same machine.

    .venv/bin/python bench/api_compare.py [--with-fake] [--seconds 8] [--connections 8]
        [--processes N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from server import start_server

FAKE_VERSION = "1.86.0"
FAKE_KEY = "seam_apikey1_token"
CACHE = Path(__file__).resolve().parent / ".cache"
CODES = 50


@dataclass(frozen=True)
class Target:
    """A server under test and the ids its requests name."""

    name: str
    base: str
    key: str
    device_id: str
    access_code_id: str


@dataclass(frozen=True)
class Figures:
    """One wrk run."""

    rate: float
    p50_ms: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fake_dir() -> Path:
    """The fake's package, unpacked into the cache on first use."""
    package = CACHE / f"fake-seam-connect-{FAKE_VERSION}" / "package"
    if (package / "dist" / "server.js").exists():
        return package
    package.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "pack", f"@seamapi/fake-seam-connect@{FAKE_VERSION}"],
        cwd=package.parent,
        check=True,
        capture_output=True,
    )
    tarball = package.parent / f"seamapi-fake-seam-connect-{FAKE_VERSION}.tgz"
    with tarfile.open(tarball) as tar:
        tar.extractall(package.parent, filter="data")
    return package


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    """The seeded fake on a free port: ``(process, base_url)``."""
    port = _free_port()
    proc = subprocess.Popen(
        ["node", "dist/server.js", "--seed"],
        cwd=_fake_dir(),
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/health")
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the fake did not start")


def prepare(name: str, base: str, key: str) -> Target:
    """Give an August lock ``CODES`` access codes; wait until pinwarden has set them."""
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    devices = http.post("/devices/list", json={}).json()["devices"]
    device = next(d for d in devices if d["device_type"] == "august_lock")
    device_id = device["device_id"]
    codes = [
        http.post(
            "/access_codes/create",
            json={"device_id": device_id, "name": f"code {n}", "code": f"{1000 + n}"},
        ).json()["access_code"]["access_code_id"]
        for n in range(CODES)
    ]
    # Measure a quiet server: no reconcile passes running beside the load.
    for _ in range(600):
        listed = http.post("/access_codes/list", json={"device_id": device_id}).json()
        if all(c["status"] == "set" for c in listed["access_codes"]):
            break
        time.sleep(0.1)
    return Target(name, base, key, device_id, codes[0])


WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["seam-sdk-name"] = "seamapi/python"
"""


def run_wrk(
    target: Target, method: str, path: str, params: dict[str, str], args: argparse.Namespace
) -> Figures:
    """One wrk run of ``path`` on ``target``: POST with ``params`` as JSON, or a GET with
    them in the SDK's query string (keys sorted, ``_strict=true`` last)."""
    if method == "POST":
        url, body = f"{target.base}{path}", json.dumps(json.dumps(params))
    else:
        query = urlencode(sorted(params.items())) + "&_strict=true"
        url, body = f"{target.base}{path}?{query}", "nil"
    script = WRK_SCRIPT.format(method=json.dumps(method), body=body, key=target.key)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.seconds:.0f}s",
                "--latency",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{target.name} {method} {path} answered errors:\n{out}")

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    return Figures(float(rate.group(1)), latency("50"), latency("99"))


def _cell(f: Figures) -> str:
    return f"{f.rate:>7.0f} {f.p50_ms:>6.2f} {f.p99_ms:>6.2f}"


def compare(targets: list[Target], args: argparse.Namespace) -> None:
    """Every endpoint and method on every target, one after the other, as a table."""
    names = "  ".join(f"{t.name + ' req/s p50 p99 (ms)':>29}" for t in targets)
    print(f"{'endpoint':<22}{'method':<7}{names}{'  ratio' if len(targets) > 1 else ''}")
    for path, which in (
        ("/access_codes/get", "access_code_id"),
        ("/access_codes/list", "device_id"),
        ("/devices/get", "device_id"),
    ):
        for method in ("POST", "GET"):
            figures = [run_wrk(t, method, path, {which: getattr(t, which)}, args) for t in targets]
            row = "  ".join(f"{_cell(f):>29}" for f in figures)
            ratio = f"  {figures[0].rate / figures[1].rate:5.2f}x" if len(figures) > 1 else ""
            print(f"{path[1:]:<22}{method:<7}{row}{ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-fake", action="store_true", help="also run Seam's fake")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--processes", type=int, default=None, help="serve --processes N (default: serve's)"
    )
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc, base, key = start_server(Path(tmp), processes=args.processes)
            procs.append(proc)
            targets = [prepare("pinwarden", base, key)]
            if args.with_fake:
                fake, fake_base = start_fake()
                procs.append(fake)
                targets.append(prepare("fake", fake_base, FAKE_KEY))
            print(
                f"wrk {args.threads} thread(s), {args.connections} connections, "
                f"{args.seconds:.0f} s per run; {os.cpu_count()} cores; pinwarden serve on "
                f"SQLite with default settings"
                f"{'' if args.processes is None else f', --processes {args.processes}'}; "
                f"each list returns {CODES} codes"
            )
            compare(targets, args)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    main()
