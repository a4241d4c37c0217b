"""Chaos on PostgreSQL: worker processes SIGKILLed while codes are created, renamed, deleted
and expire; then every invariant that must survive is checked.

One ``pinwarden serve --no-worker`` process takes the API calls; ``workers`` worker
processes share the queue; every ``kill_every`` seconds one of them, chosen at random, is
SIGKILLed and started again. Meanwhile a client creates ``codes`` access codes on sandbox
locks (ongoing ones, time-bound ones already open that expire during the run, and ones that
open during the run), renames some and deletes some. After the last kill the harness waits
for convergence and checks:

- no code lost: every code not deleted and not expired exists, ``set`` once its window is open;
- no PIN in two slots, and the locks hold exactly the live codes' PINs;
- no expired PIN left on a lock one reconcile period (the drift-check interval) after its end,
  sampled all along the run;
- per code exactly one ``created`` event, at most one ``set_on_device`` (and exactly one when
  set), one ``deleted`` when deleted, no event twice;
- convergence within two reconcile periods of the last kill.

Used by ``tests/process/test_chaos.py`` (small) and ``bench/chaos_bench.py`` (large). It runs
on the wall clock: killed processes cannot share a fake one.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select

from pinwarden.sandbox.tables import SandboxSlot
from pinwarden.store.db import Database
from pinwarden.store.tables import AccessCode, Device
from tests.processes import free_port, sandbox_key, serve, wait_answering, wait_until, worker

BIG_LOCKS = ("august_lock", "schlage_lock", "yale_lock", "kwikset_lock")
# The drift check: every device is reconciled at least this often, whatever was missed.
PERIOD = timedelta(seconds=15)


@dataclass
class Report:
    """What a chaos run saw: figures and every invariant it found broken."""

    codes: int = 0
    kills: int = 0
    renames: int = 0
    deletes: int = 0
    # From the last kill (or the last write, when writes trailed it) to convergence.
    converged_after_last_kill_s: float | None = None
    writes_after_last_kill_s: float = 0.0
    violations: list[str] = field(default_factory=list)


@dataclass
class _Code:
    access_code_id: str
    device_id: str
    pin: str
    starts_at: datetime | None
    ends_at: datetime | None
    deleted: bool = False


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PINWARDEN_DATABASE_URL=database_url,
        PINWARDEN_SANDBOX_LATENCY_SECONDS="0.3",
        PINWARDEN_PROGRAMMING_LEAD_MINUTES="0",
        PINWARDEN_NATIVE_PRELOAD_HOURS="0",
        PINWARDEN_DRIFT_CHECK_MINUTES=str(PERIOD.total_seconds() / 60),
        # A killed worker's devices pass to the others quickly.
        PINWARDEN_LEASE_SECONDS="2",
        PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE="0",
        PINWARDEN_RATE_LIMIT_UPDATES_PER_MINUTE="0",
        PINWARDEN_RATE_LIMIT_DELETES_PER_MINUTE="0",
    )
    return env


def _held(db: Database, now: datetime) -> list[tuple[str, int, str]]:
    """(device, slot, PIN) of every slot a simulated lock holds at ``now``."""
    with db.read() as s:
        rows = s.execute(
            select(Device.device_id, SandboxSlot.slot, SandboxSlot.code)
            .join(Device, Device.address == SandboxSlot.lock_id)
            .where(
                SandboxSlot.visible_from <= now,
                or_(SandboxSlot.gone_at.is_(None), SandboxSlot.gone_at > now),
            )
        ).all()
    return [(r.device_id, r.slot, r.code) for r in rows]


class _Client:
    """Creates, renames and deletes codes through the API, remembering what it did."""

    def __init__(self, port: int, keys: list[str], rng: random.Random) -> None:
        self._rng = rng
        self.clients = [
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            for key in keys
        ]
        self.locks: list[tuple[httpx.Client, str]] = []
        self._client_of: dict[str, httpx.Client] = {}
        self.codes: list[_Code] = []
        self.renames = 0
        self._churning = threading.Lock()
        self._pins = rng.sample(range(10_000_000, 99_999_999), 100_000)

    def find_locks(self) -> None:
        for http in self.clients:
            devices = http.get("/devices/list").json()["devices"]
            self.locks += [(http, d["device_id"]) for d in devices if d["device_type"] in BIG_LOCKS]
        self._client_of = {device_id: http for http, device_id in self.locks}

    def create(self, n: int, horizon: float) -> None:
        http, device_id = self.locks[n % len(self.locks)]
        pin = str(self._pins[n])
        now = datetime.now(UTC)
        body: dict[str, Any] = {"device_id": device_id, "code": pin, "name": f"c{n}"}
        kind = n % 3
        if kind == 1:  # open now, expires during the run
            body["starts_at"] = (now - timedelta(minutes=1)).isoformat()
            body["ends_at"] = (now + timedelta(seconds=self._rng.uniform(2, horizon))).isoformat()
        elif kind == 2:  # opens during the run
            body["starts_at"] = (now + timedelta(seconds=self._rng.uniform(1, horizon))).isoformat()
            body["ends_at"] = (now + timedelta(hours=2)).isoformat()
        response = http.post("/access_codes/create", json=body)
        response.raise_for_status()
        view = response.json()["access_code"]
        starts = body.get("starts_at")
        ends = body.get("ends_at")
        self.codes.append(
            _Code(
                view["access_code_id"],
                device_id,
                pin,
                datetime.fromisoformat(starts) if starts else None,
                datetime.fromisoformat(ends) if ends else None,
            )
        )

    def churn(self) -> None:
        """Rename or delete a random live code (not one about to expire)."""
        with self._churning:  # never two changes to one code at once
            self._churn()

    def _churn(self) -> None:
        soon = datetime.now(UTC) + timedelta(seconds=5)
        live = [c for c in self.codes if not c.deleted and not _ended(c, soon)]
        if not live:
            return
        code = self._rng.choice(live)
        http = self._client_of[code.device_id]
        if self._rng.random() < 0.5:
            http.post(
                "/access_codes/update",
                json={"access_code_id": code.access_code_id, "name": f"r{self.renames}"},
            ).raise_for_status()
            self.renames += 1
        else:
            http.post(
                "/access_codes/delete", json={"access_code_id": code.access_code_id}
            ).raise_for_status()
            code.deleted = True

    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for http in self.clients:
            events += http.get(
                "/events/list", params={"since": "2000-01-01T00:00:00Z", "limit": 1_000_000}
            ).json()["events"]
        return events

    def close(self) -> None:
        for http in self.clients:
            http.close()


def run_chaos(
    database_url: str,
    *,
    codes: int,
    kills: int,
    kill_every: float,
    workers: int = 3,
    workspaces: int = 2,
    seed: int = 7,
) -> Report:
    """One chaos run on ``database_url`` (a fresh, migrated PostgreSQL schema)."""
    rng = random.Random(seed)
    env = _env(database_url)
    keys = [sandbox_key(env) for _ in range(workspaces)]
    port = free_port()
    api = serve(env, port, "--no-worker")
    pool = [worker(env) for _ in range(workers)]
    db = Database(database_url)
    client = _Client(port, keys, rng)
    report = Report()
    horizon = kills * kill_every
    stop_sampling = threading.Event()
    try:
        wait_answering(api, client.clients[0])
        client.find_locks()

        lingering: list[_Code] = []

        def sample_expired() -> None:
            """All along the run: no PIN lingers a period past its end."""
            while not stop_sampling.wait(1.0):
                now = datetime.now(UTC)
                held = {(d, c) for d, _s, c in _held(db, now)}
                for code in list(client.codes):
                    late = code.ends_at is not None and code.ends_at + PERIOD < now
                    if late and (code.device_id, code.pin) in held and code not in lingering:
                        lingering.append(code)
                        report.violations.append(
                            f"expired PIN still on the lock: {code}; {_queue_state(db, code)}"
                        )

        sampler = threading.Thread(target=sample_expired, daemon=True)
        sampler.start()
        started = time.monotonic()
        last_write = [started]

        def write(n: int) -> None:
            """Create code ``n`` on schedule (creations fill the first half of the run),
            and now and then rename or delete another."""
            time.sleep(max(0.0, started + n * horizon / 2 / codes - time.monotonic()))
            client.create(n, horizon)
            if n > 10 and n % 3 == 0:
                client.churn()
            last_write[0] = max(last_write[0], time.monotonic())

        with ThreadPoolExecutor(max_workers=8) as writers:
            done = writers.map(write, range(codes))
            last_kill = started
            while report.kills < kills:
                time.sleep(max(0.0, last_kill + kill_every - time.monotonic()))
                victim = rng.randrange(len(pool))
                pool[victim].send_signal(signal.SIGKILL)
                pool[victim].wait(timeout=10)
                pool[victim] = worker(env)
                report.kills += 1
                last_kill = time.monotonic()
            list(done)  # re-raises a failed request
        report.codes = len(client.codes)
        report.renames = client.renames
        report.deletes = sum(c.deleted for c in client.codes)
        # Writes meant to land before the last kill may trail it when the API is slow.
        calm = max(last_kill, last_write[0])
        report.writes_after_last_kill_s = max(0.0, last_write[0] - last_kill)

        checked_at = [datetime.now(UTC)]

        def converged() -> bool:
            checked_at[0] = datetime.now(UTC)
            return not _divergence(db, client.codes, checked_at[0])

        try:
            wait_until(converged, seconds=5 * PERIOD.total_seconds())
            report.converged_after_last_kill_s = time.monotonic() - calm
            if report.converged_after_last_kill_s > 2 * PERIOD.total_seconds():
                report.violations.append(
                    f"converged only {report.converged_after_last_kill_s:.1f} s after the last "
                    "kill (more than two reconcile periods)"
                )
        except AssertionError:
            report.violations += _divergence(db, client.codes, datetime.now(UTC))
        stop_sampling.set()
        sampler.join(timeout=10)
        report.violations += _event_violations(client.codes, client.events(), checked_at[0])
        return report
    finally:
        stop_sampling.set()
        client.close()
        for process in [api, *pool]:
            process.kill()
            process.wait(timeout=10)
        db.dispose()


def _queue_state(db: Database, code: _Code) -> str:
    """The code's row and its device's queue columns, to explain a violation."""
    with db.read() as s:
        device = s.get(Device, code.device_id)
        row = s.get(AccessCode, code.access_code_id)
    assert device is not None
    return (
        f"code {row.status if row else 'gone'}; device due {device.next_reconcile_at}, "
        f"lease {device.lease_owner} until {device.lease_until}, failures {device.failure_count}"
    )


def _ended(code: _Code, now: datetime) -> bool:
    return code.ends_at is not None and code.ends_at <= now


def _divergence(db: Database, codes: list[_Code], now: datetime) -> list[str]:
    """How the system differs from what the client asked for (empty once converged)."""
    problems: list[str] = []
    with db.read() as s:
        rows = {r.access_code_id: r for r in s.scalars(select(AccessCode)).all()}
    held = _held(db, now)
    if len({(d, slot) for d, slot, _c in held}) != len(held):
        problems.append("a slot holds two PINs")
    expected: Counter[tuple[str, str]] = Counter()
    for code in codes:
        row = rows.get(code.access_code_id)
        if code.deleted or _ended(code, now):
            if row is not None:
                problems.append(f"deleted or ended code still kept: {code.access_code_id}")
            continue
        if row is None:
            problems.append(f"code lost: {code.access_code_id}")
        elif code.starts_at is None or code.starts_at <= now:
            expected[(code.device_id, code.pin)] += 1
            if row.status != "set":
                problems.append(f"open code not set: {code.access_code_id} ({row.status})")
    on_locks = Counter((d, c) for d, _slot, c in held)
    if on_locks != expected:
        extra, missing = on_locks - expected, expected - on_locks
        problems.append(f"lock memory differs: extra {dict(extra)}, missing {dict(missing)}")
    return problems


def _event_violations(
    codes: list[_Code], events: list[dict[str, Any]], converged_at: datetime
) -> list[str]:
    """Event counts per code; a code must have been set if it was open at convergence."""
    problems: list[str] = []
    if len({e["event_id"] for e in events}) != len(events):
        problems.append("an event was recorded twice")
    per_code = Counter((e.get("access_code_id"), e["event_type"]) for e in events)
    now = converged_at
    for code in codes:
        cid = code.access_code_id
        counts = {
            kind: per_code[(cid, f"access_code.{kind}")]
            for kind in ("created", "set_on_device", "deleted")
        }
        live_and_open = (
            not code.deleted
            and not _ended(code, now)
            and (code.starts_at is None or code.starts_at <= now)
        )
        if counts["created"] != 1:
            problems.append(f"{cid}: {counts['created']} created events")
        if counts["set_on_device"] > 1 or (live_and_open and counts["set_on_device"] != 1):
            history = [
                (e["event_type"], e["created_at"]) for e in events if e.get("access_code_id") == cid
            ]
            problems.append(f"{cid}: {counts['set_on_device']} set_on_device events: {history}")
        if counts["deleted"] > 1 or (not code.deleted and counts["deleted"]):
            problems.append(f"{cid}: {counts['deleted']} deleted events")
    return problems
