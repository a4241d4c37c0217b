"""API benchmark: requests/s and p50/p99 latency for access_codes get, list and create.

Starts ``pinwarden serve`` on a fresh SQLite file with sandbox locks (as a user would),
then drives it over HTTP for D seconds per endpoint with C keep-alive connections, using
``wrk`` when it is installed (``apt-get install wrk``) and otherwise a closed-loop
Python load generator (C threads, one httpx client each), which is itself slower.

    .venv/bin/python bench/api_bench.py [--concurrency 8] [--seconds 10] [--generator wrk|httpx]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from server import start_server


def run_load(
    name: str,
    make_request: Callable[[httpx.Client, int], httpx.Response],
    base: str,
    key: str,
    concurrency: int,
    seconds: float,
) -> None:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(index: int) -> None:
        nonlocal errors
        local: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            n = 0
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = make_request(client, index * 1_000_000 + n)
                local.append(time.perf_counter() - start)
                bad += response.status_code != 200
                n += 1
        with lock:
            latencies.extend(local)
            errors += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"{name:<28} {len(latencies) / elapsed:>9.0f} req/s   p50 {p50:6.1f} ms   "
        f"p99 {p99:6.1f} ms   ({len(latencies)} requests, {errors} non-200)"
    )


WRK_SCRIPT = """
local paths = {%s}
local bodies = {%s}
local method = "%s"
local n = 0
request = function()
  n = n + 1
  local i = (n %% #paths) + 1
  local body = nil
  if #bodies > 0 then body = bodies[(n %% #bodies) + 1] end
  return wrk.format(method, paths[i], {
    ["Authorization"] = "Bearer %s",
    ["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(
    name: str,
    method: str,
    paths: list[str],
    bodies: list[str],
    base: str,
    key: str,
    concurrency: int,
    seconds: float,
    workdir: Path,
) -> None:
    def lua_list(items: list[str]) -> str:
        return ", ".join(json.dumps(i) for i in items)

    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT % (lua_list(paths), lua_list(bodies), method, key))
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{seconds:.0f}s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", out).group(1)  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"{name:<28} {rate:>9.0f} req/s   p50 {latency('50'):6.1f} ms   "
        f"p99 {latency('99'):6.1f} ms   ({total} requests, "
        f"{non2xx.group(1) if non2xx else 0} non-2xx)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--generator", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, key = start_server(Path(tmp))
        try:
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
            devices = http.get("/devices/list").json()["devices"]
            busy = devices[0]["device_id"]
            codes = [
                http.post(
                    "/access_codes/create", json={"device_id": busy, "preferred_code_length": 8}
                ).json()["access_code"]["access_code_id"]
                for _ in range(50)
            ]
            others = [d["device_id"] for d in devices[1:]]
            generator = (
                "wrk 4.1 (2 threads)" if args.generator == "wrk" else "closed-loop httpx threads"
            )
            print(
                f"pinwarden API benchmark: SQLite (WAL) file, `pinwarden serve` (one uvicorn "
                f"process + worker thread), load generator {generator}, {args.concurrency} "
                f"connections, {args.seconds:.0f} s per endpoint, same machine "
                f"({os.cpu_count()} cores)"
            )
            if args.generator == "wrk":
                common = (base, key, args.concurrency, args.seconds, Path(tmp))
                run_wrk(
                    "access_codes/get",
                    "GET",
                    [f"/access_codes/get?access_code_id={c}" for c in codes],
                    [],
                    *common,
                )
                run_wrk(
                    "access_codes/list (50 codes)",
                    "GET",
                    [f"/access_codes/list?device_id={busy}"],
                    [],
                    *common,
                )
                run_wrk(
                    "access_codes/create",
                    "POST",
                    ["/access_codes/create"],
                    [json.dumps({"device_id": d, "preferred_code_length": 8}) for d in others],
                    *common,
                )
                return
            run_load(
                "access_codes/get",
                lambda c, n: c.get("/access_codes/get", params={"access_code_id": codes[n % 50]}),
                base,
                key,
                args.concurrency,
                args.seconds,
            )
            run_load(
                "access_codes/list (50 codes)",
                lambda c, n: c.get("/access_codes/list", params={"device_id": busy}),
                base,
                key,
                args.concurrency,
                args.seconds,
            )
            run_load(
                "access_codes/create",
                lambda c, n: c.post(
                    "/access_codes/create",
                    json={"device_id": others[n % len(others)], "preferred_code_length": 8},
                ),
                base,
                key,
                args.concurrency,
                args.seconds,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
