"""Scale benchmark: read latency, memory and idle CPU of ``pinwarden serve`` at 1,000,000
codes on 100,000 locks.

Fills a fresh SQLite file straight through Core bulk inserts with rows as the API and a
converged reconciler leave them (zero-latency simulated locks holding every code in its
slot, each code ``set`` with its ``access_code.set_on_device`` event, every lock's next
drift check an hour away), starts ``pinwarden serve`` on it, and measures:

- p50/p99 of ``access_codes/list`` by device and ``events/list`` by device (wrk, GET with
  the SDK's query strings, random locks);
- the server's resident memory;
- its CPU use over ``--idle-seconds`` once converged (nothing due, no requests).

    .venv/bin/python bench/scale_bench.py [--devices 100000] [--codes 10] [--idle-seconds 30]
        [--keep scale.db]

With ``--keep FILE`` the filled database is kept in FILE, and a later run with the same
FILE starts from it instead of filling again (the fill takes minutes at full size).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rows import add_account, code_row, device_row, insert_locks
from sqlalchemy import create_engine, insert, select

from pinwarden.config import Settings
from pinwarden.sandbox.tables import SandboxSlot
from pinwarden.service import Service
from pinwarden.store.sealed import digest
from pinwarden.store.tables import AccessCode, Device, Event
from pinwarden.timeutil import iso

CHUNK = 5_000  # devices per transaction


def _code_and_slot(
    workspace_id: str, device_id: str, slot: int, created: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A code set in ``slot`` by a finished pass, and the lock's memory holding it."""
    pin = f"{random.randrange(10**7):07d}{slot % 10}"
    code = code_row(workspace_id, device_id, f"Guest {slot}", pin, created)
    code.update(status="set", slot=slot, was_on_device=True, slot_code=pin)
    memory = {
        "lock_id": device_id,
        "slot": slot,
        "code": pin,
        "code_digest": digest(pin),
        "visible_from": created,
    }
    return code, memory


def _event(
    workspace_id: str, account: str, code: dict[str, Any], created: datetime
) -> dict[str, Any]:
    """The ``access_code.set_on_device`` event of ``code``, as record_event writes it."""
    event_id = str(uuid.uuid4())
    payload = {
        "event_id": event_id,
        "event_type": "access_code.set_on_device",
        "workspace_id": workspace_id,
        "created_at": iso(created),
        "occurred_at": iso(created),
        "device_id": code["device_id"],
        "connected_account_id": account,
        "access_code_id": code["access_code_id"],
    }
    return {
        "event_id": event_id,
        "workspace_id": workspace_id,
        "event_type": "access_code.set_on_device",
        "device_id": code["device_id"],
        "access_code_id": code["access_code_id"],
        "created_at": created,
        "occurred_at": created,
        "payload": payload,
        "secrets": {"code": code["code"]},
    }


def fill(url: str, devices: int, codes: int) -> tuple[str, list[str]]:
    """The database at ``url``, filled; returns an API key and the device ids."""
    service = Service(replace(Settings.from_env(), database_url=url))
    service.migrate()
    workspace_id, key = service.create_workspace("scale", sandbox=False)
    account = add_account(service, workspace_id)
    start = service.clock.now() - timedelta(days=30)
    due = service.clock.now() + timedelta(hours=1)
    ids: list[str] = []
    started = time.perf_counter()
    for first in range(0, devices, CHUNK):
        batch = [str(uuid.uuid4()) for _ in range(min(CHUNK, devices - first))]
        ids.extend(batch)
        rows = [
            device_row(d, workspace_id, account, first + i, start, due) for i, d in enumerate(batch)
        ]
        code_rows, memory, events = [], [], []
        for i, device_id in enumerate(batch):
            for slot in range(1, codes + 1):
                created = start + timedelta(seconds=(first + i) * codes + slot)
                code, held = _code_and_slot(workspace_id, device_id, slot, created)
                code_rows.append(code)
                memory.append(held)
                events.append(_event(workspace_id, account, code, created))
        with service.db.write() as session:
            insert_locks(session, rows)
            session.execute(insert(AccessCode), code_rows)
            session.execute(insert(SandboxSlot), memory)
            session.execute(insert(Event), events)
        done = first + len(batch)
        print(f"\r  filled {done:,} locks ({time.perf_counter() - started:.0f} s)", end="")
    print()
    service.db.dispose()
    return key, ids


def reuse(url: str) -> tuple[str, list[str]]:
    """A database ``fill`` made before (with ``--keep``): its API key and device ids."""
    path = Path(url.removeprefix("sqlite:///"))
    key = path.with_suffix(".key").read_text()
    # The PINs were sealed with that run's key.
    os.environ["PINWARDEN_SECRET_KEY"] = path.with_suffix(".secret").read_text()
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Device.device_id)))
    engine.dispose()
    return key, ids


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match
    return int(match.group(1)) / 1024


def latency(base: str, key: str, paths: list[str], seconds: int, workdir: Path) -> str:
    """wrk (1 thread, 8 connections) over ``paths``: req/s, p50 and p99."""
    script = workdir / "scale.lua"
    listed = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{{listed}}}\n"
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "request = function()\n"
        "  return wrk.format(nil, paths[math.random(#paths)])\n"
        "end\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    assert rate and p50 and p99, out
    return f"{float(rate.group(1)):7.0f} req/s   p50 {p50.group(1):>8}   p99 {p99.group(1):>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--codes", type=int, default=10, help="codes per lock")
    parser.add_argument("--seconds", type=int, default=8, help="wrk run per endpoint")
    parser.add_argument("--idle-seconds", type=int, default=30)
    parser.add_argument("--keep", type=Path, default=None, help="database file to keep and reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "scale.db"
        url = f"sqlite:///{path}"
        if args.keep and path.exists():
            key, ids = reuse(url)
            print(f"reusing {path}: {len(ids):,} locks")
        else:
            print(f"filling {args.devices:,} locks x {args.codes} codes (+ one event per code)")
            key, ids = fill(url, args.devices, args.codes)
            if args.keep:
                path.with_suffix(".key").write_text(key)
                path.with_suffix(".secret").write_text(os.environ["PINWARDEN_SECRET_KEY"])
        size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*")) / 2**20
        print(f"database: {size:,.0f} MB")
        port = 3020 + random.randrange(1000, 9000)
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "pinwarden", "serve", "--port", str(port)],
            env={**os.environ, "PINWARDEN_DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            started = time.perf_counter()
            assert proc.stdout is not None
            while b"listening on" not in proc.stdout.readline():
                pass
            print(f"serve listening after {time.perf_counter() - started:.1f} s")
            # Converged: the start-up work (discovery of every account) is over once a
            # few seconds pass without CPU use.
            last = _cpu_seconds(proc.pid)
            for _ in range(120):
                time.sleep(2)
                now = _cpu_seconds(proc.pid)
                if now - last < 0.02:
                    break
                last = now
            print(
                f"quiet after {time.perf_counter() - started:.0f} s "
                f"({_cpu_seconds(proc.pid):.1f} CPU-s since start)"
            )
            before = _cpu_seconds(proc.pid)
            time.sleep(args.idle_seconds)
            idle = _cpu_seconds(proc.pid) - before
            print(
                f"idle CPU over {args.idle_seconds} s: {idle:.2f} CPU-s "
                f"({100 * idle / args.idle_seconds:.2f} % of a core)"
            )
            print(f"RSS idle: {_rss_mb(proc.pid):.0f} MB")
            sample = random.sample(ids, min(1000, len(ids)))
            httpx.get(
                f"{base}/access_codes/list",
                params={"device_id": sample[0]},
                headers={"Authorization": f"Bearer {key}"},
            ).raise_for_status()
            lists = [f"/access_codes/list?device_id={d}&_strict=true" for d in sample]
            since = "2000-01-01T00:00:00.000Z"
            events = [f"/events/list?device_id={d}&since={since}&_strict=true" for d in sample]
            work = Path(tmp)
            print(f"access_codes/list by device   {latency(base, key, lists, args.seconds, work)}")
            print(f"events/list by device         {latency(base, key, events, args.seconds, work)}")
            print(f"RSS after the load: {_rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
