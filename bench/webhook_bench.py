"""Webhook benchmark: event-to-delivery latency at a steady event rate.

Starts ``pinwarden serve`` on a fresh SQLite file, subscribes a local receiver (in this
process) to every event, then flips a sandbox lock offline and online at a steady rate
through the API; each flip writes one event. Latency = arrival at the receiver minus the
event's ``created_at`` (same machine, same wall clock).

    .venv/bin/python bench/webhook_bench.py [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from server import start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            now = time.time()
            with lock:
                arrivals[json.loads(body)["event_id"]] = now
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    with tempfile.TemporaryDirectory() as tmp:
        server, base, key = start_server(Path(tmp))
        try:
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
            url = f"http://127.0.0.1:{receiver.server_address[1]}/"
            http.post("/webhooks/create", json={"url": url}).raise_for_status()
            device = http.get("/devices/list").json()["devices"][0]["device_id"]
            interval = 1.0 / args.rate
            started = time.perf_counter()
            sent = 0
            online = True
            while time.perf_counter() - started < args.seconds:
                online = not online
                route = "connect" if online else "disconnect"
                http.post(f"/devices/simulate/{route}", json={"device_id": device})
                sent += 1
                delay = started + sent * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            events = http.get(
                "/events/list", params={"since": "2000-01-01T00:00:00Z", "limit": 1_000_000}
            ).json()["events"]
            deadline = time.time() + 30
            while time.time() < deadline:
                with lock:
                    if len(arrivals) >= len(events):
                        break
                time.sleep(0.1)
            latencies = sorted(
                (arrivals[e["event_id"]] - datetime.fromisoformat(e["created_at"]).timestamp())
                * 1000
                for e in events
                if e["event_id"] in arrivals
            )
            p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
            print(
                f"pinwarden webhook benchmark: SQLite, `pinwarden serve`, local receiver, "
                f"{args.rate:.0f} events/s for {args.seconds:.0f} s ({os.cpu_count()} cores)"
            )
            print(
                f"delivered {len(latencies)}/{len(events)} events   "
                f"p50 {statistics.median(latencies):6.1f} ms   p99 {p99:6.1f} ms   "
                f"max {latencies[-1]:6.1f} ms"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
            receiver.shutdown()


if __name__ == "__main__":
    main()
