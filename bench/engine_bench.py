"""Engine benchmark: reconciles per second on zero-latency simulated locks, fake clock.

Builds N devices with C ongoing codes each directly in a fresh database, then lets one
worker drain the queue: one pass per device programs its codes, reads the lock back (its
operations settle at once) and records them ``set``. Prints passes/s, locks brought to
their desired state per second, and codes/s. With ``--workers W`` (W > 1), W worker
processes share the queue (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), each on the same fake
clock; the time is taken from when all of them are ready until the last one is done.

    .venv/bin/python bench/engine_bench.py [--devices 10000] [--codes 10] [--concurrency K]
        [--workers W] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from rows import add_account, code_row, device_row, insert_locks
from sqlalchemy import func, insert, or_, select

from pinwarden.clock import FakeClock
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store.tables import AccessCode, Device

START = datetime(2030, 1, 1, tzinfo=UTC)


def bench_service(url: str, concurrency: int) -> Service:
    """A service on the fake clock with zero-latency simulated locks and no worker loop."""
    return Service(
        replace(
            Settings(),
            database_url=url,
            sandbox_latency=timedelta(0),
            run_worker=False,
            worker_concurrency=concurrency,
        ),
        FakeClock(START),
    )


def drain(service: Service) -> int:
    """Run passes until no device is due or leased (another process may hold some);
    returns how many passes this worker ran."""
    passes = 0
    while True:
        handled = asyncio.run(service.worker.run_once())
        passes += handled
        if handled:
            continue
        with service.db.read() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(Device)
                .where(
                    or_(
                        Device.next_reconcile_at <= service.clock.now(),
                        Device.lease_until.is_not(None),
                    )
                )
            )
        if not pending:
            return passes
        time.sleep(0.005)  # the other process holds what is left


def worker_process(url: str, concurrency: int, go: MpEvent, messages: mp.Queue[Any]) -> None:
    """One worker process of a ``--workers`` run."""
    service = bench_service(url, concurrency)
    messages.put(("ready", None))
    go.wait()
    messages.put(("done", drain(service)))
    service.db.dispose()


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
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'engine.db'}"
        service = bench_service(url, args.concurrency)
        service.migrate()
        workspace_id, _ = service.create_workspace("bench", sandbox=False)
        started = time.perf_counter()
        populate(service, workspace_id, args.devices, args.codes)
        print(
            f"populated {args.devices} devices x {args.codes} codes "
            f"in {time.perf_counter() - started:.1f} s"
        )
        if args.workers == 1:
            started = time.perf_counter()
            passes = drain(service)
        else:
            ctx = mp.get_context("spawn")
            go = ctx.Event()
            messages: mp.Queue[Any] = ctx.Queue()
            procs = [
                ctx.Process(target=worker_process, args=(url, args.concurrency, go, messages))
                for _ in range(args.workers)
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                messages.get()  # ready
            started = time.perf_counter()
            go.set()
            passes = sum(messages.get()[1] for _ in procs)
            for proc in procs:
                proc.join()
        elapsed = time.perf_counter() - started
        with service.db.read() as session:
            done = session.scalar(
                select(func.count()).select_from(AccessCode).where(AccessCode.status == "set")
            )
        total = args.devices * args.codes
        print(
            f"engine benchmark ({url.split(':')[0]}, fake clock, zero-latency simulated locks, "
            f"{args.workers} worker(s), concurrency {service.settings.worker_concurrency}):"
        )
        print(
            f"{passes} reconciles in {elapsed:.1f} s = {passes / elapsed:,.0f} reconciles/s; "
            f"{args.devices / elapsed:,.0f} locks converged/s; "
            f"{done}/{total} codes set = {done / elapsed:,.0f} codes/s"
        )
        service.db.dispose()


if __name__ == "__main__":
    main()
