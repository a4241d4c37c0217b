"""Deliverer alone: how fast one process drains queued deliveries to a local receiver.

Writes ``--deliveries`` events owed to one webhook straight into a fresh database (SQLite,
or ``--database``), then runs only the webhook deliverer (no API, no engine) against
``bench/receiver.py`` in its own process and times until none is pending. This isolates
the deliverer's own cost per delivery (sign, POST over a kept-alive connection, record)
from the API and engine work that produces events in ``webhook_bench.py``.

    .venv/bin/python bench/deliverer_bench.py [--deliveries 3000] [--database URL]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from pinwarden.background import run_in_thread
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store.tables import Event, Webhook, WebhookDelivery, Workspace
from pinwarden.webhooks.signing import new_secret

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--database", default=None, help="database URL (default: fresh SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arrivals = Path(tmp) / "arrivals.txt"
        receiver = subprocess.Popen(
            [sys.executable, str(HERE / "receiver.py"), str(arrivals)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        service = Service(replace(Settings(), database_url=url))
        service.migrate()
        now = datetime.now(UTC)
        with service.db.write() as session:
            workspace = Workspace(
                workspace_id=str(uuid.uuid4()),
                name="bench",
                company_name="bench",
                is_sandbox=True,
                created_at=now,
            )
            webhook = Webhook(
                webhook_id=str(uuid.uuid4()),
                workspace_id=workspace.workspace_id,
                url=f"http://127.0.0.1:{port}/",
                event_types=["*"],
                secret=new_secret(),
                created_at=now,
            )
            session.add(workspace)
            session.flush()
            session.add(webhook)
            session.flush()
            for _ in range(args.deliveries):
                event_id = str(uuid.uuid4())
                event = Event(
                    event_id=event_id,
                    workspace_id=workspace.workspace_id,
                    event_type="device.connected",
                    created_at=now,
                    occurred_at=now,
                    payload={"event_id": event_id, "event_type": "device.connected"},
                )
                session.add(event)
                session.flush()
                session.add(
                    WebhookDelivery(
                        webhook_id=webhook.webhook_id,
                        event_seq=event.seq,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        started = time.perf_counter()
        thread, stop = run_in_thread("pinwarden-deliverer", service.deliverer.run)
        pending_now = select(func.count()).where(
            WebhookDelivery.webhook_id == webhook.webhook_id, WebhookDelivery.status == "pending"
        )
        try:
            while True:
                with service.db.read() as session:
                    if not session.scalar(pending_now):
                        break
                time.sleep(0.02)
            seconds = time.perf_counter() - started
        finally:
            stop.set()
            thread.join(timeout=30)
            service.db.dispose()
            receiver.terminate()
            receiver.wait(timeout=10)
        received = len(arrivals.read_text().splitlines())
        database = "SQLite" if args.database is None else args.database
        print(
            f"pinwarden deliverer alone: {database}, one webhook, {os.cpu_count()} cores: "
            f"{args.deliveries} deliveries in {seconds:.2f} s = {args.deliveries / seconds:.0f}/s "
            f"({received} requests received)"
        )


if __name__ == "__main__":
    main()
