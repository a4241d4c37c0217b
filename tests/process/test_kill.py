"""SIGKILL in the middle of reconciling many codes loses nothing (issue: crash safety).

A real ``pinwarden serve`` process on the real clock is killed while operations are in
flight, with time-bound windows opening and closing while it is down. After a restart the
system converges: every live code is on its lock exactly once, nothing expired is left on a
lock, every code has exactly one ``created`` event and at most one ``set_on_device``, and a
converged system restarted again does no reconciling at all.

This is a whole-process test on the wall clock (a killed process cannot share a fake
clock): the short sleep below is the downtime during which windows open and close.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from pinwarden.sandbox.tables import SandboxSlot
from pinwarden.store.db import Database
from pinwarden.store.tables import AccessCode, Device
from tests.processes import free_port, sandbox_key, serve, wait_answering, wait_until


def test_kill_mid_reconcile_then_restart_converges_without_loss(database_url: str) -> None:
    env = dict(os.environ)
    env.update(
        PINWARDEN_DATABASE_URL=database_url,
        PINWARDEN_SANDBOX_LATENCY_SECONDS="0.5",
        PINWARDEN_PROGRAMMING_LEAD_MINUTES="0",
        PINWARDEN_NATIVE_PRELOAD_HOURS="0",
        # The dead process's leases lapse quickly, so the restart can take over.
        PINWARDEN_LEASE_SECONDS="2",
        # 30 creates per lock within seconds: far over Seam's 10 per minute, on purpose.
        PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE="0",
    )
    key = sandbox_key(env)
    port = free_port()
    server = serve(env, port)
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    db = Database(database_url)
    try:
        wait_answering(server, http)
        locks = [
            d["device_id"]
            for d in http.get("/devices/list").json()["devices"]
            if d["device_type"] in ("august_lock", "schlage_lock", "yale_lock", "kwikset_lock")
        ]
        created: list[str] = []
        for i in range(120):
            # Windows are set from each create's own time: 120 creates can take seconds on
            # a loaded machine, and a window that closed before its create is refused.
            now = datetime.now(UTC)
            body: dict[str, Any] = {"device_id": locks[i % len(locks)], "preferred_code_length": 8}
            if i % 3 == 1:  # opens while the server is down
                body |= {
                    "starts_at": (now + timedelta(seconds=4)).isoformat(),
                    "ends_at": (now + timedelta(minutes=30)).isoformat(),
                }
            if i % 3 == 2:  # opens and closes while the server is down
                body |= {
                    "starts_at": (now + timedelta(seconds=3)).isoformat(),
                    "ends_at": (now + timedelta(seconds=6)).isoformat(),
                }
            response = http.post("/access_codes/create", json=body)
            response.raise_for_status()
            created.append(response.json()["access_code"]["access_code_id"])
        server.send_signal(signal.SIGKILL)  # operations are in flight right now
        server.wait(timeout=10)
        time.sleep(7)  # windows open and close while nobody is running
        server = serve(env, port)
        wait_answering(server, http)

        def converged() -> bool:
            with db.read() as s:
                rows = s.scalars(select(AccessCode)).all()
                return all(r.status == "set" for r in rows) and len(rows) == 80

        wait_until(converged)

        with db.read() as s:
            live = {r.access_code_id: r for r in s.scalars(select(AccessCode)).all()}
            memory = [
                (device_id, slot.slot, slot.code)
                for device_id, slot in s.execute(
                    select(Device.device_id, SandboxSlot).join(
                        Device, Device.address == SandboxSlot.lock_id
                    )
                ).all()
                if slot.gone_at is None
            ]
        # Every live code sits on its lock exactly once; nothing else is on any lock.
        assert Counter((d, c) for d, _slot, c in memory) == Counter(
            (r.device_id, r.code) for r in live.values()
        )
        assert len({(d, slot) for d, slot, _c in memory}) == len(memory)
        expired = set(created[2::3])
        assert not expired & set(live)
        events = http.get(
            "/events/list", params={"since": "2000-01-01T00:00:00Z", "limit": 100000}
        ).json()["events"]
        per_code = Counter((e["access_code_id"], e["event_type"]) for e in events)
        for cid in created:
            assert per_code[(cid, "access_code.created")] == 1
            assert per_code[(cid, "access_code.set_on_device")] <= 1
        for cid in live:
            assert per_code[(cid, "access_code.set_on_device")] == 1
        assert len({e["event_id"] for e in events}) == len(events)

        # A converged system restarted does not touch its locks.
        with db.read() as s:
            before = {d.device_id: d.next_reconcile_at for d in s.scalars(select(Device))}
            slots_before = len(s.scalars(select(SandboxSlot)).all())
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = serve(env, port)
        wait_answering(server, http)
        time.sleep(1.0)
        with db.read() as s:
            after = {d.device_id: d.next_reconcile_at for d in s.scalars(select(Device))}
            slots_after = len(s.scalars(select(SandboxSlot)).all())
        assert after == before and slots_after == slots_before
    finally:
        server.kill()
        server.wait(timeout=10)
        db.dispose()
