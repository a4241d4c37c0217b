"""Lateness benchmark: how late time-bound codes are set and removed, on the real clock.

Builds D zero-latency simulated locks (Yale Assure Lock 2, 250 slots) holding C time-bound
codes in all, directly in a fresh database. Every window opens and closes within one minute
of T0: ``starts_at`` uniform in [T0, T0 + window), ``ends_at`` uniform in (starts_at,
T0 + window]. Codes are programmed just in time (lead time 0, ``prefer_native_scheduling``
off), so a set is due at ``starts_at`` and a removal at ``ends_at``. Each lock starts with
``next_reconcile_at`` at its first ``starts_at``, as the reconcile after creation would
leave it. W worker processes (each one ``Worker`` loop on its own thread, as
``pinwarden serve`` runs it, on ``SystemClock``) then drain the queue until every code
is gone or the timeout passes.

Lateness (actual minus due) is measured twice:

* lock: when the simulated lock applied the operation (its acknowledgement time), recorded
  by a thin wrapper around the simulated driver;
* event: ``created_at`` of ``access_code.set_on_device`` / ``access_code.removed_from_device``,
  written in the transaction that records the change (by the pass that sent the operation:
  it reads the zero-latency lock back).

Codes whose whole window went by before a worker reached them are never set; they are
counted, not measured.

    .venv/bin/python bench/lateness_bench.py [--codes 100000] [--devices 2000] \\
        [--workers 1] [--concurrency K] [--database URL] [--margin 15] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import queue
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from rows import MODEL, add_account, code_row, device_row, insert_locks
from sqlalchemy import func, insert, select, update

from pinwarden.background import run_in_thread
from pinwarden.clock import SystemClock
from pinwarden.config import Settings
from pinwarden.devices.driver import (
    AccountRef,
    DeviceEvent,
    DeviceRef,
    DiscoveredLock,
    OpAck,
    OpOutcome,
    SlotOp,
    SlotReport,
)
from pinwarden.engine.reconciler import Reconciler
from pinwarden.engine.worker import Worker
from pinwarden.sandbox.driver import SandboxDriver
from pinwarden.sandbox.models import LOCK_MODELS
from pinwarden.service import Service
from pinwarden.store.db import Database
from pinwarden.store.tables import AccessCode, Device, Event

SET_EVENT = "access_code.set_on_device"
REMOVED_EVENT = "access_code.removed_from_device"
# Until T0 is chosen, windows sit this far in the future, so nothing is due.
PARKED = timedelta(days=1)

# (device_id, PIN, "set" | "remove", applied at as a POSIX timestamp)
Applied = tuple[str, str, str, float]


@dataclass(frozen=True)
class PlannedCode:
    """One code of the benchmark, kept in memory: rows are deleted once removed."""

    access_code_id: str
    device_id: str
    pin: str
    start_offset: float  # seconds after T0
    end_offset: float


class RecordingDriver:
    """The simulated driver, noting when the lock acknowledged each set and remove."""

    def __init__(self, inner: SandboxDriver) -> None:
        self._inner = inner
        self._last_read: dict[str, dict[int, str | None]] = {}
        self.applied: list[Applied] = []
        self.passes = 0

    async def start(self) -> None:
        await self._inner.start()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def discover(self, account: AccountRef) -> list[DiscoveredLock]:
        return await self._inner.discover(account)

    def events(self) -> AsyncIterator[DeviceEvent]:
        return self._inner.events()

    async def set_locked(self, device: DeviceRef, locked: bool) -> OpOutcome:
        return await self._inner.set_locked(device, locked)

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        self.passes += 1
        reports = await self._inner.read_slots(device, fresh)
        # A remove names only the slot; the read that precedes it in the pass names the PIN.
        self._last_read[device.device_id] = {r.slot: r.code for r in reports}
        return reports

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        outcomes = await self._inner.apply(device, ops)
        held = self._last_read.get(device.device_id, {})
        for op, outcome in zip(ops, outcomes, strict=True):
            pin = op.code if op.kind == "set" else held.get(op.slot)
            if isinstance(outcome, OpAck) and pin is not None:
                self.applied.append(
                    (device.device_id, pin, op.kind, outcome.settles_at.timestamp())
                )
        return outcomes


def bench_settings(url: str, concurrency: int) -> Settings:
    """Zero-latency locks, programming exactly at ``starts_at``, no API-side worker, up to
    ``concurrency`` passes in flight per worker."""
    return replace(
        Settings(),
        database_url=url,
        sandbox_latency=timedelta(0),
        programming_lead_time=timedelta(0),
        run_worker=False,
        worker_concurrency=concurrency,
    )


def worker_process(
    url: str, concurrency: int, go: MpEvent, stop: MpEvent, messages: mp.Queue[Any]
) -> None:
    """One worker process: the service's worker loop over a recording simulated driver."""
    logging.basicConfig(level=logging.WARNING, format="worker %(process)d: %(message)s")
    settings = bench_settings(url, concurrency)
    clock = SystemClock()
    db = Database(url)
    driver = RecordingDriver(SandboxDriver(db, clock, settings.sandbox_latency))
    reconciler = Reconciler(db, clock, {"sandbox": driver}, settings)
    worker = Worker(db, clock, reconciler, settings)
    messages.put(("ready", os.getpid()))
    go.wait()
    thread, stop_flag = run_in_thread("pinwarden-worker", worker.run)
    stop.wait()
    stop_flag.set()
    thread.join(timeout=120)
    db.dispose()
    messages.put(("done", (driver.passes, driver.applied)))


def plan_codes(
    codes: int, devices: int, window: float, seed: int
) -> tuple[list[str], list[PlannedCode]]:
    """Device ids, and codes dealt round-robin over them with random windows."""
    rng = random.Random(seed)
    device_ids = [str(uuid.uuid4()) for _ in range(devices)]
    planned = []
    for n in range(codes):
        start = rng.uniform(0, window)
        end = rng.uniform(start, window)
        while end <= start:  # (start, window]: never an empty window
            end = rng.uniform(start, window)
        planned.append(
            PlannedCode(
                access_code_id=str(uuid.uuid4()),
                device_id=device_ids[n % devices],
                pin=f"{1000 + n // devices}",  # unique on its lock
                start_offset=start,
                end_offset=end,
            )
        )
    return device_ids, planned


def populate(
    service: Service,
    workspace_id: str,
    device_ids: list[str],
    planned: list[PlannedCode],
    parked: datetime,
) -> None:
    """Insert the locks and codes in bulk, windows parked a day ahead."""
    now = service.clock.now()
    account = add_account(service, workspace_id)
    first = first_starts(planned)
    for chunk in range(0, len(device_ids), 1000):
        rows = [
            device_row(
                device_id,
                workspace_id,
                account,
                chunk + n,
                now,
                parked + timedelta(seconds=first.get(device_id, 0.0)),
            )
            for n, device_id in enumerate(device_ids[chunk : chunk + 1000])
        ]
        with service.db.write() as session:
            insert_locks(session, rows)
    for chunk in range(0, len(planned), 10_000):
        rows = [
            code_row(
                workspace_id,
                c.device_id,
                f"guest {c.pin}",
                c.pin,
                now,
                access_code_id=c.access_code_id,
                starts_at=parked + timedelta(seconds=c.start_offset),
                ends_at=parked + timedelta(seconds=c.end_offset),
            )
            for c in planned[chunk : chunk + 10_000]
        ]
        with service.db.write() as session:
            session.execute(insert(AccessCode), rows)


def first_starts(planned: list[PlannedCode]) -> dict[str, float]:
    """Each lock's earliest ``starts_at`` offset: when it first needs a look."""
    first: dict[str, float] = {}
    for c in planned:
        first[c.device_id] = min(first.get(c.device_id, c.start_offset), c.start_offset)
    return first


def move_windows(service: Service, planned: list[PlannedCode], t0: datetime) -> None:
    """Move every window (and each lock's wake-up) from the parked base to ``t0``."""
    first = first_starts(planned)
    with service.db.write() as session:
        for chunk in range(0, len(planned), 10_000):
            session.execute(
                update(AccessCode),
                [
                    {
                        "access_code_id": c.access_code_id,
                        "starts_at": t0 + timedelta(seconds=c.start_offset),
                        "ends_at": t0 + timedelta(seconds=c.end_offset),
                    }
                    for c in planned[chunk : chunk + 10_000]
                ],
            )
        session.execute(
            update(Device),
            [
                {"device_id": d, "next_reconcile_at": t0 + timedelta(seconds=s)}
                for d, s in first.items()
            ],
        )


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q + 0.999999) - 1))]


def report_line(label: str, lateness: list[float], total: int) -> str:
    if not lateness:
        return f"{label:<22} n=0/{total}"
    ordered = sorted(lateness)
    return (
        f"{label:<22} n={len(ordered):>7,}/{total:,}   p50 {percentile(ordered, 0.5):8.3f} s   "
        f"p99 {percentile(ordered, 0.99):8.3f} s   max {ordered[-1]:8.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--concurrency", type=int, default=Settings().worker_concurrency, help="K per worker"
    )
    parser.add_argument("--window", type=float, default=60.0, help="seconds all windows span")
    parser.add_argument("--margin", type=float, default=15.0, help="seconds from setup to T0")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds after T0")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_device = -(-args.codes // args.devices)
    slots = LOCK_MODELS[MODEL].slot_count
    if per_device > slots:
        parser.error(f"{per_device} codes per lock do not fit in {slots} slots; add --devices")

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'lateness.db'}"
        service = Service(bench_settings(url, args.concurrency), SystemClock())
        service.migrate()
        workspace_id, _ = service.create_workspace("bench", sandbox=False)

        ctx = mp.get_context("spawn")
        go, stop = ctx.Event(), ctx.Event()
        messages: mp.Queue[Any] = ctx.Queue()
        procs = [
            ctx.Process(target=worker_process, args=(url, args.concurrency, go, stop, messages))
            for _ in range(args.workers)
        ]
        for proc in procs:
            proc.start()

        device_ids, planned = plan_codes(args.codes, args.devices, args.window, args.seed)
        started = time.perf_counter()
        populate(service, workspace_id, device_ids, planned, service.clock.now() + PARKED)
        populated = time.perf_counter() - started
        for _ in procs:
            messages.get(timeout=120)  # every worker is built and waiting
        t0 = service.clock.now() + timedelta(seconds=args.margin)
        started = time.perf_counter()
        move_windows(service, planned, t0)
        moved = time.perf_counter() - started
        slack = (t0 - service.clock.now()).total_seconds()
        print(
            f"populated {args.devices:,} locks x {per_device} codes ({args.codes:,}) in "
            f"{populated:.1f} s; windows moved to T0 in {moved:.1f} s, {slack:.1f} s before T0"
        )
        go.set()

        deadline = t0 + timedelta(seconds=args.window + args.timeout)
        next_report = t0 + timedelta(seconds=10)
        remaining = args.codes
        while remaining and service.clock.now() < deadline:
            time.sleep(0.5)
            with service.db.read() as session:
                remaining = session.scalar(select(func.count()).select_from(AccessCode)) or 0
            if service.clock.now() >= next_report:
                at = (service.clock.now() - t0).total_seconds()
                print(f"  T0{at:+6.0f} s: {remaining:,} codes not yet removed", flush=True)
                next_report += timedelta(seconds=10)
        drained = (service.clock.now() - t0).total_seconds()
        stop.set()

        passes = 0
        applied: list[Applied] = []
        for _ in procs:
            try:
                _kind, (n, records) = messages.get(timeout=300)
            except queue.Empty:
                print("a worker process did not report back")
                continue
            passes += n
            applied.extend(records)
        for proc in procs:
            proc.join(timeout=60)

        with service.db.read() as session:
            events = session.execute(
                select(Event.event_type, Event.access_code_id, Event.created_at).where(
                    Event.event_type.in_([SET_EVENT, REMOVED_EVENT])
                )
            ).all()
        service.db.dispose()

    by_pin = {(c.device_id, c.pin): c for c in planned}
    by_id = {c.access_code_id: c for c in planned}
    base = t0.timestamp()
    lock_set: dict[str, float] = {}
    lock_remove: dict[str, float] = {}
    for device_id, pin, kind, at in applied:
        c = by_pin[(device_id, pin)]
        if kind == "set":
            lock_set.setdefault(c.access_code_id, at - base - c.start_offset)
        else:
            lock_remove.setdefault(c.access_code_id, at - base - c.end_offset)
    event_set: list[float] = []
    event_remove: list[float] = []
    for event_type, access_code_id, created_at in events:
        code = by_id.get(access_code_id or "")
        if code is None:
            continue
        if event_type == SET_EVENT:
            event_set.append(created_at.timestamp() - base - code.start_offset)
        else:
            event_remove.append(created_at.timestamp() - base - code.end_offset)

    backend = url.split(":")[0].split("+")[0]
    print(
        f"lateness benchmark ({backend}, real clock, zero-latency simulated locks, "
        f"{args.workers} worker process(es) at concurrency {args.concurrency}, "
        f"{os.cpu_count()} cores): {args.codes:,} codes on "
        f"{args.devices:,} locks, windows within {args.window:.0f} s"
    )
    print(report_line("set    (lock)", list(lock_set.values()), args.codes))
    print(report_line("set    (event)", event_set, args.codes))
    print(report_line("remove (lock)", list(lock_remove.values()), args.codes))
    print(report_line("remove (event)", event_remove, args.codes))
    print(
        f"never set (window over first): {args.codes - len(lock_set):,}; "
        f"not removed by the end: {remaining:,}"
    )
    print(
        f"{passes:,} reconcile passes; all codes gone {drained:.1f} s after T0 "
        f"({drained - args.window:+.1f} s after the last window closed); "
        f"wall time {time.perf_counter() - began:.1f} s"
    )


if __name__ == "__main__":
    main()
