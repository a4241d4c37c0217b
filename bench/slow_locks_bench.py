"""Slow-lock benchmark: N locks that each take real seconds per command, one new code each.

Every lock answers each command (a read of its slots, or one set/remove) after ``--latency``
real seconds and handles one command at a time, like a Z-Wave lock on a busy mesh or a vendor
cloud API. One process runs the real worker loop on the wall clock with concurrency K; the
figure is the time from creating the codes until every one is ``set``. Sequential
reconciling would take at least N x 3 commands x latency (read, set, read back).

``--cached-reads``: a read the engine does not ask to be fresh is answered from the driver's
cache at no cost (as Z-Wave JS keeps each node's user codes). ``--supervised``: the lock
confirms each write (Z-Wave Supervision), so no read-back is needed.

    .venv/bin/python bench/slow_locks_bench.py [--locks 1000] [--latency 2] [--concurrency 32]
        [--cached-reads] [--supervised]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rows import add_account, code_row, device_row, insert_locks
from sqlalchemy import func, insert, select

from pinwarden.background import run_in_thread
from pinwarden.config import Settings
from pinwarden.devices.driver import DeviceRef, Driver, OpAck, OpOutcome, SlotOp, SlotReport
from pinwarden.service import Service
from pinwarden.store.tables import AccessCode


class SlowLocks:
    """The simulated driver behind locks that take ``latency`` real seconds per command."""

    def __init__(self, inner: Driver, latency: float, cached_reads: bool, supervised: bool) -> None:
        self._inner = inner
        self._latency = latency
        self._cached_reads = cached_reads
        self._supervised = supervised
        self._busy: dict[str, asyncio.Lock] = {}

    def _lock(self, device: DeviceRef) -> asyncio.Lock:
        return self._busy.setdefault(device.device_id, asyncio.Lock())

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        if self._cached_reads and not fresh:
            return await self._inner.read_slots(device, fresh)
        async with self._lock(device):
            await asyncio.sleep(self._latency)
            return await self._inner.read_slots(device, fresh)

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        async with self._lock(device):
            await asyncio.sleep(self._latency * len(ops))
            outcomes = await self._inner.apply(device, ops)
        if not self._supervised:
            return outcomes
        return [replace(o, confirmed=True) if isinstance(o, OpAck) else o for o in outcomes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locks", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=2.0, help="real seconds per command")
    parser.add_argument("--concurrency", type=int, default=32, help="K: passes at once")
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--cached-reads", action="store_true")
    parser.add_argument("--supervised", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'slow.db'}"
        settings = replace(
            Settings(), database_url=url, run_worker=False, worker_concurrency=args.concurrency
        )
        service = Service(settings)
        service.migrate()
        service.reconciler.drivers["sandbox"] = SlowLocks(
            service.reconciler.drivers["sandbox"], args.latency, args.cached_reads, args.supervised
        )
        workspace_id, _ = service.create_workspace("bench", sandbox=False)
        account = add_account(service, workspace_id)
        now = service.clock.now()
        devices, codes = [], []
        for n in range(args.locks):
            device_id = str(uuid.uuid4())
            devices.append(device_row(device_id, workspace_id, account, n, now, now))
            codes.append(code_row(workspace_id, device_id, "guest", f"{1000 + n % 9000:04d}", now))
        thread, stop = run_in_thread("bench-worker", service.worker.run)
        started = time.perf_counter()
        with service.db.write() as session:
            insert_locks(session, devices)
            session.execute(insert(AccessCode), codes)
        service.worker.wake()
        done = 0
        while done < args.locks:
            time.sleep(0.1)
            with service.db.read() as session:
                done = session.scalar(
                    select(func.count()).select_from(AccessCode).where(AccessCode.status == "set")
                )
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join(timeout=30)
        floor = 3 * args.latency * args.locks / args.concurrency
        print(
            f"slow-lock benchmark ({url.split(':')[0]}, real clock, {args.latency:g} s per "
            f"command, one process, K = {args.concurrency}"
            f"{', cached reads' if args.cached_reads else ''}"
            f"{', supervised writes' if args.supervised else ''}):"
        )
        print(
            f"{args.locks} locks x 1 new code: all set in {elapsed:.1f} s "
            f"(sequential >= {3 * args.latency * args.locks / 60:.0f} min; "
            f"3 commands per lock / K = {floor:.1f} s floor)"
        )
        service.db.dispose()


if __name__ == "__main__":
    main()
