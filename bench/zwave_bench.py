"""Z-Wave benchmark on the real Z-Wave JS stack (zwave-js's mock controller, as the tests
run it): the official SDK → pinwarden → Z-Wave JS driver → zwave-server → zwave-js.

Three figures:

* **create → on the lock**: ongoing codes created one at a time through the SDK; the time
  from the create call returning until the PIN is in the mock lock's own memory, and
  until the code reads ``set``; then deleted, timed until the memory no longer holds it.
* **time-bound edges** on the real clock: codes with short windows (lead time 0); how late
  each PIN appears after ``starts_at`` and disappears after ``ends_at`` in the lock's
  memory (polled every 10 ms, so figures carry up to 10 ms of polling).
* **a dead node for an hour** on a fake clock: the node stops answering with a code
  waiting; the clock moves in 10 s steps for an hour while the worker retries; counted:
  commands the driver put on the mesh for that node.

    .venv/bin/python bench/zwave_bench.py [--codes 50] [--windows 10] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seam import Seam

from pinwarden.clock import Clock, FakeClock, SystemClock
from pinwarden.config import Settings
from pinwarden.service import Service
from tests.conftest import http_server
from tests.npm import find_node_and_npm, npm_ci
from tests.zwave_stack import HERE, ZWaveStack

NODE = 3


def wait_for(probe: Callable[[], object], timeout: float = 60.0, every: float = 0.01) -> float:
    """Poll until ``probe`` is truthy; returns the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(every)
    return time.monotonic()


def status(seam: Seam, access_code_id: str) -> str:
    return str(seam.access_codes.get(access_code_id=access_code_id).status)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{name}: n={len(ms)} p50={statistics.median(ms):.0f} ms "
        f"p99={pct(ms, 0.99):.0f} ms max={max(ms):.0f} ms"
    )


def onboard(stack: ZWaveStack, settings: Settings, clock: Clock) -> tuple[Service, str, str]:
    service = Service(settings, clock)
    service.migrate()
    workspace_id, key = service.create_workspace("Bench", sandbox=False)
    account_id = service.connect_account("zwave-js", workspace_id, {"url": stack.ws_url})
    asyncio.run(service.discover_once(account_id))
    return service, key, account_id


def device_of(seam: Seam, node: int) -> str:
    return next(
        d.device_id
        for d in seam.devices.list()
        if str(d.properties.name).endswith(f"(node {node})")
    )


def latency(stack: ZWaveStack, settings: Settings, count: int) -> None:
    service, key, _ = onboard(stack, settings, SystemClock())
    with http_server(service.app) as endpoint:
        seam = Seam(api_key=key, endpoint=endpoint)
        device_id = device_of(seam, NODE)
        on_lock, is_set, removed = [], [], []
        for i in range(count):
            pin = f"{4000 + i}"
            code = seam.access_codes.create(device_id=device_id, name=f"c{i}", code=pin)
            began = time.monotonic()
            on_lock.append(wait_for(lambda p=pin: p in stack.codes(NODE).values()) - began)
            done = wait_for(lambda c=code.access_code_id: status(seam, c) == "set")
            is_set.append(done - began)
            seam.access_codes.delete(access_code_id=code.access_code_id)
            began = time.monotonic()
            removed.append(wait_for(lambda p=pin: p not in stack.codes(NODE).values()) - began)
    slowest = max(range(count), key=on_lock.__getitem__)
    print(f"slowest create: #{slowest}")
    figures("create -> PIN in the lock's memory", on_lock)
    # The first pays for the connection to the server and the lock's first read.
    figures("  the same, after the first", on_lock[1:])
    figures("create -> status set (SDK polling)", is_set)
    figures("delete -> PIN gone from the lock", removed)


def edges(stack: ZWaveStack, settings: Settings, count: int) -> None:
    service, key, _ = onboard(stack, settings, SystemClock())
    with http_server(service.app) as endpoint:
        seam = Seam(api_key=key, endpoint=endpoint)
        device_id = device_of(seam, NODE)
        t0 = datetime.now(UTC) + timedelta(seconds=3)
        windows = {}
        for i in range(count):
            starts = t0 + timedelta(seconds=0.7 * i)
            ends = starts + timedelta(seconds=3)
            pin = f"{6000 + i}"
            seam.access_codes.create(
                device_id=device_id,
                name=f"w{i}",
                code=pin,
                starts_at=starts.isoformat(),
                ends_at=ends.isoformat(),
            )
            windows[pin] = (starts, ends)
        first_seen: dict[str, datetime] = {}
        gone: dict[str, datetime] = {}
        deadline = time.monotonic() + 60
        while len(gone) < count and time.monotonic() < deadline:
            held = set(stack.codes(NODE).values())
            now = datetime.now(UTC)
            for pin in windows:
                if pin in held and pin not in first_seen:
                    first_seen[pin] = now
                if pin in first_seen and pin not in held and pin not in gone:
                    gone[pin] = now
            time.sleep(0.01)
    early = [p for p, at in first_seen.items() if at < windows[p][0]]
    print(
        f"time-bound codes: {len(first_seen)}/{count} appeared, {len(gone)} removed, "
        f"{len(early)} early"
    )
    figures(
        "starts_at -> PIN in memory",
        [(first_seen[p] - windows[p][0]).total_seconds() for p in first_seen],
    )
    figures("ends_at -> PIN gone", [(gone[p] - windows[p][1]).total_seconds() for p in gone])


def dead_hour(stack: ZWaveStack, settings: Settings) -> None:
    clock = FakeClock(datetime.now(UTC))
    service, key, _ = onboard(stack, settings, clock)
    with http_server(service.app) as endpoint:
        seam = Seam(api_key=key, endpoint=endpoint)
        device_id = device_of(seam, NODE)
        with service.db.read() as session:
            from pinwarden.store.tables import Device

            address = session.get(Device, device_id).address  # type: ignore[union-attr]
        driver = service.integrations.zwave_js
        service.worker.wait_idle(30)
        before = driver.commands_last_hour(address)
        stack.set_mode(NODE, "dead")
        seam.access_codes.create(device_id=device_id, name="waiting", code="5150")
        began = time.monotonic()
        start = clock.now()
        # To just short of an hour, so the command that found the node dead still counts.
        for step in range(360):
            service.worker.wait_idle(60)
            clock.advance(timedelta(seconds=10 if step < 359 else 9))
        service.worker.wait_idle(60)
        # The hour's window still holds the commands of before the node died: not counted.
        sent = driver.commands_last_hour(address) - before
        print(
            f"dead node for {clock.now() - start} of fake clock "
            f"({time.monotonic() - began:.0f} s real): {sent} commands sent to it "
            f"(pings included)"
        )
        stack.set_mode(NODE, "alive")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=50)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    tools = find_node_and_npm()
    if tools is None:
        sys.exit("node and npm are needed")
    npm_ci(HERE, tools[1])
    with (
        tempfile.TemporaryDirectory() as tmp,
        ZWaveStack(Path(tmp), node=tools[0]) as stack,
    ):
        print(f"stack ready in {stack.startup_seconds:.1f} s")

        def settings(name: str) -> Settings:
            url = args.database or f"sqlite:///{tmp}/{name}.db"
            return replace(
                Settings(),
                database_url=url,
                programming_lead_time=timedelta(0),
                rate_limit_creates=0,
                rate_limit_deletes=0,
                idle_poll=timedelta(seconds=0.5),
            )

        for n in stack.node_ids:
            stack.reset(n, codes={})
        latency(stack, settings("latency"), args.codes)
        edges(stack, settings("edges"), args.windows)
        dead_hour(stack, settings("dead"))


if __name__ == "__main__":
    main()
