"""A server killed in the middle of a delivery delivers everything after a restart."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import httpx

from tests.processes import free_port, sandbox_key, serve, wait_answering, wait_until
from tests.webhooks.receiver import Receiver


def test_kill_mid_delivery_then_restart_delivers_everything(
    database_url: str, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.update(
        PINWARDEN_DATABASE_URL=database_url,
        PINWARDEN_SANDBOX_LATENCY_SECONDS="0",
        PINWARDEN_DELIVERY_LEASE_SECONDS="1",
    )
    key = sandbox_key(env)
    holding = threading.Event()
    release = threading.Event()

    def first_hangs(_r: object) -> int:
        if not holding.is_set():
            holding.set()
            release.wait(30)
        return 200

    receiver = Receiver(respond=first_hangs)
    port = free_port()
    server = serve(env, port)
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        wait_answering(server, http)
        http.post("/webhooks/create", json={"url": receiver.url}).raise_for_status()
        lock = http.get("/devices/list").json()["devices"][0]["device_id"]
        for _ in range(3):
            http.post("/access_codes/create", json={"device_id": lock}).raise_for_status()
        wait_until(holding.is_set)

        def all_set() -> bool:
            codes = http.get("/access_codes/list", params={"device_id": lock}).json()
            return {c["status"] for c in codes["access_codes"]} == {"set"}

        # Every event exists before the kill; the receiver still holds the first delivery.
        wait_until(all_set)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        release.set()
        server = serve(env, port)
        wait_answering(server, http)
        events = http.get("/events/list", params={"since": "2000-01-01T00:00:00Z"}).json()["events"]
        expected = {e["event_id"] for e in events}
        assert len(expected) >= 3

        def all_delivered() -> bool:
            got = {json.loads(b)["event_id"] for b in receiver.bodies()}
            return expected <= got

        wait_until(all_delivered)
        webhook_id = http.get("/webhooks/list").json()["webhooks"][0]["webhook_id"]

        def settled() -> bool:
            # More events follow the restart (codes reaching the lock); wait for quiet.
            log = http.get("/webhooks/deliveries/list", params={"webhook_id": webhook_id}).json()[
                "webhook_deliveries"
            ]
            now = http.get("/events/list", params={"since": "2000-01-01T00:00:00Z"}).json()
            return {d["status"] for d in log} == {"succeeded"} and {d["event_id"] for d in log} == {
                e["event_id"] for e in now["events"]
            }

        wait_until(settled)
        every = http.get("/events/list", params={"since": "2000-01-01T00:00:00Z"}).json()
        delivered = {json.loads(b)["event_id"] for b in receiver.bodies()}
        assert {e["event_id"] for e in every["events"]} <= delivered
    finally:
        release.set()
        server.kill()
        server.wait(timeout=10)
        receiver.close()
