"""Webhook benchmark: event-to-delivery latency at a steady event rate.

Starts ``pinwarden serve`` (a fresh SQLite file, or ``--database``), subscribes a local
receiver to every event, then flips sandbox locks offline and online at a steady rate
through the API; each flip writes one event (``device.connected``/``disconnected``) and
asks the engine for a reconcile of that lock. With ``--events keypad`` each request
locks a sandbox lock at its keypad instead (``/locks/simulate/manual_lock_via_keypad``):
one ``lock.locked`` event and no reconcile, so that the webhook path is measured apart
from the engine work the flips bring along. Either way the event is written by the
engine from the lock's report, as for a real lock. The receiver is its own process
(``bench/receiver.py``: asyncio, HTTP/1.1 keep-alive) so that it is not what is measured.
The flips come from ``--senders`` threads, each with its own connection and its own lock,
sharing the rate. Latency = arrival at the receiver minus the event's ``created_at``
(same machine, same wall clock). After the run it waits up to 30 s for stragglers; any
event not delivered by then counts as lost.

    .venv/bin/python bench/webhook_bench.py [--rate 200] [--seconds 60] [--senders 4]
        [--events flips|keypad]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test] [--processes N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
from server import start_server

HERE = Path(__file__).resolve().parent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, int(len(values) * q + 0.999999) - 1))]


def read_arrivals(path: Path) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            # At-least-once: a duplicate keeps its first arrival.
            arrivals.setdefault(parts[0], float(parts[1]))
    return arrivals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--senders", type=int, default=4, help="API client threads, one lock each")
    parser.add_argument(
        "--events",
        choices=("flips", "keypad"),
        default="flips",
        help="how events are made: online/offline flips (each with a reconcile) or keypad locks",
    )
    parser.add_argument("--database", default=None, help="database URL (default: fresh SQLite)")
    parser.add_argument(
        "--deliverer-process",
        action="store_true",
        help="deliver from a second process (`pinwarden worker` with the engine off) and "
        "run `pinwarden serve` without the deliverer",
    )
    parser.add_argument(
        "--processes", type=int, default=None, help="serve --processes N (default: serve's)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        arrivals_file = Path(tmp) / "arrivals.txt"
        arrivals_file.touch()
        receiver = subprocess.Popen(
            [sys.executable, str(HERE / "receiver.py"), str(arrivals_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        extra = {"PINWARDEN_DELIVER_WEBHOOKS": "0"} if args.deliverer_process else {}
        server, base, key = start_server(Path(tmp), args.database, extra, args.processes)
        deliverer: subprocess.Popen[bytes] | None = None
        if args.deliverer_process:
            env = dict(os.environ)
            env["PINWARDEN_DATABASE_URL"] = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
            env["PINWARDEN_RUN_ENGINE"] = "0"
            env["PINWARDEN_SECRET_KEY_FILE"] = str(Path(tmp) / "bench.key")  # the server's
            if args.database is None:
                # No NOTIFY across processes on SQLite: the deliverer looks every 20 ms.
                env["PINWARDEN_IDLE_POLL_SECONDS"] = "0.02"
            deliverer = subprocess.Popen(
                [sys.executable, "-m", "pinwarden", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            headers = {"Authorization": f"Bearer {key}"}
            http = httpx.Client(base_url=base, headers=headers)
            url = f"http://127.0.0.1:{port}/"
            http.post("/webhooks/create", json={"url": url}).raise_for_status()
            devices = [d["device_id"] for d in http.get("/devices/list").json()["devices"]]
            senders = min(args.senders, len(devices))
            interval = senders / args.rate
            sent = Counter[str]()
            started = time.perf_counter()
            start_wall = time.time()

            def send(device: str, offset: float) -> None:
                client = httpx.Client(base_url=base, headers=headers)
                online, n = True, 0
                while True:
                    due = started + offset + n * interval
                    if due - started >= args.seconds:
                        break
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    if args.events == "keypad":
                        route = "/locks/simulate/manual_lock_via_keypad"
                    else:
                        online = not online
                        route = f"/devices/simulate/{'connect' if online else 'disconnect'}"
                    answer = client.post(route, json={"device_id": device})
                    sent["ok" if answer.status_code == 200 else "failed"] += 1
                    n += 1
                client.close()

            threads = [
                threading.Thread(target=send, args=(device, i * interval / senders))
                for i, device in enumerate(devices[:senders])
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            send_seconds = time.perf_counter() - started
            # Each request makes the engine write one event; wait (up to 60 s) until it has.
            catch_up = time.time() + 60
            while True:
                events = http.get(
                    "/events/list", params={"since": "2000-01-01T00:00:00Z", "limit": 1_000_000}
                ).json()["events"]
                if len(events) >= sent["ok"] or time.time() > catch_up:
                    break
                time.sleep(0.2)
            created = {
                e["event_id"]: datetime.fromisoformat(e["created_at"]).timestamp() for e in events
            }
            deadline = time.time() + 30
            arrivals = read_arrivals(arrivals_file)
            while time.time() < deadline and not created.keys() <= arrivals.keys():
                time.sleep(0.2)
                arrivals = read_arrivals(arrivals_file)
            delivered = [e for e in created if e in arrivals]
            latencies = sorted((arrivals[e] - created[e]) * 1000 for e in delivered)
            lost = len(created) - len(delivered)
            first, last = min(created.values()), max(created.values())
            # Deliveries per whole second of the sending window (first and last second left out).
            per_second = Counter(int(arrivals[e] - start_wall) for e in delivered)
            inner = [per_second[s] for s in range(1, int(send_seconds) - 1)]
            database = "SQLite" if args.database is None else args.database
            print(
                f"pinwarden webhook benchmark: {database}, "
                f"`pinwarden serve`, receiver in its own process, events made by {args.events}, "
                f"target {args.rate:.0f} events/s "
                f"for {args.seconds:.0f} s, {senders} senders, deliverer "
                f"{'in its own process' if args.deliverer_process else 'in the server'}"
                f"{'' if args.processes is None else f', --processes {args.processes}'} "
                f"({os.cpu_count()} cores)"
            )
            print(
                f"requests sent {sent['ok']} ({sent['failed']} failed) in {send_seconds:.1f} s; "
                f"events written {len(created)} at {len(created) / max(last - first, 1e-9):.1f}/s "
                f"over {last - first:.1f} s"
            )
            print(
                f"delivered {len(delivered)}/{len(created)}   lost {lost}   "
                f"duplicates {len(arrivals_file.read_text().splitlines()) - len(arrivals)}"
            )
            if latencies:
                print(
                    f"event -> delivered: p50 {percentile(latencies, 0.50):6.1f} ms   "
                    f"p95 {percentile(latencies, 0.95):6.1f} ms   "
                    f"p99 {percentile(latencies, 0.99):6.1f} ms   max {latencies[-1]:6.1f} ms"
                )
            if not args.deliverer_process:
                # Attempts by outcome, as the deliverer counted them (duplicates come from
                # attempts that timed out or failed after the receiver had the request).
                counted = [
                    line
                    for line in http.get("/metrics").text.splitlines()
                    if line.startswith("pinwarden_webhook_deliveries_total{")
                ]
                print("attempts: " + "   ".join(counted))
            if inner:
                print(
                    f"deliveries per second over {len(inner)} inner seconds: "
                    f"min {min(inner)}   mean {sum(inner) / len(inner):.1f}   max {max(inner)}"
                )
            # Events written per 10 s of the run: a rate that falls shows what cannot keep up.
            written = Counter(int((t - start_wall) // 10) for t in created.values())
            print(
                "events written per 10 s: "
                + "  ".join(str(written[b]) for b in range(max(written, default=-1) + 1))
            )
        finally:
            if deliverer is not None:
                deliverer.terminate()
                deliverer.wait(timeout=30)
            server.terminate()
            server.wait(timeout=30)
            receiver.terminate()
            receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
