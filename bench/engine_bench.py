"""Engine benchmark: reconciles per second on zero-latency simulated locks, fake clock.

Builds N devices with C ongoing codes each directly in a fresh database, then lets one
worker drain the queue: a first pass per device programs its codes, a second confirms them
(status ``set``). Prints passes/s and codes/s.

    .venv/bin/python bench/engine_bench.py [--devices 10000] [--codes 10] [--concurrency K]
        [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rows import add_account, code_row, device_row, insert_locks
from sqlalchemy import func, insert, select

from pinwarden.clock import FakeClock
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store.tables import AccessCode


def populate(service: Service, workspace_id: str, devices: int, codes: int) -> None:
    now = service.clock.now()
    account = add_account(service, workspace_id)
    for start in range(0, devices, 1000):
        device_rows = []
        code_rows = []
        for n in range(start, min(devices, start + 1000)):
            device_id = str(uuid.uuid4())
            device_rows.append(device_row(device_id, workspace_id, account, n, now, now))
            code_rows += [
                code_row(workspace_id, device_id, f"code {c}", f"{1000 + c * 7:04d}", now)
                for c in range(codes)
            ]
        with service.db.write() as session:
            insert_locks(session, device_rows)
            session.execute(insert(AccessCode), code_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--codes", type=int, default=10)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--concurrency", type=int, default=Settings().worker_concurrency)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'engine.db'}"
        clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
        service = Service(
            replace(
                Settings(),
                database_url=url,
                sandbox_latency=timedelta(0),
                run_worker=False,
                worker_concurrency=args.concurrency,
            ),
            clock,
        )
        service.migrate()
        workspace_id, _ = service.create_workspace("bench", sandbox=False)
        started = time.perf_counter()
        populate(service, workspace_id, args.devices, args.codes)
        print(
            f"populated {args.devices} devices x {args.codes} codes "
            f"in {time.perf_counter() - started:.1f} s"
        )
        passes = 0
        started = time.perf_counter()
        while handled := asyncio.run(service.worker.run_once()):
            passes += handled
        elapsed = time.perf_counter() - started
        with service.db.read() as session:
            done = session.scalar(
                select(func.count()).select_from(AccessCode).where(AccessCode.status == "set")
            )
        total = args.devices * args.codes
        print(
            f"engine benchmark ({url.split(':')[0]}, fake clock, zero-latency simulated locks, "
            f"one worker, concurrency {service.settings.worker_concurrency}):"
        )
        print(
            f"{passes} reconciles in {elapsed:.1f} s = {passes / elapsed:,.0f} reconciles/s; "
            f"{done}/{total} codes set = {done / elapsed:,.0f} codes/s"
        )
        service.db.dispose()


if __name__ == "__main__":
    main()
