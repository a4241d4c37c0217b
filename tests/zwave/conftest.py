"""pinwarden on the real Z-Wave stack: the official SDK → pinwarden on the real clock →
the Z-Wave JS driver → ``@zwave-js/server`` → ``zwave-js`` → zwave-js's mock controller.

One stack serves the whole test session (``zwave_stack``); each test gets a fresh
database and pinwarden with the account connected (as ``pinwarden connect`` does), and
the mock locks reset to the codes they were declared with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from seam import Seam

from pinwarden.clock import Clock, SystemClock
from pinwarden.devices.driver import AccountRef
from pinwarden.service import Service
from tests.conftest import http_server, make_settings, no_logged_errors
from tests.zwave_stack import ZWaveStack
from tests.zwave_stack.cache import sync_cache

T = TypeVar("T")
# Real seconds a condition on the stack may take (a set is ≈ 0.2 s, a dead node ≈ 3 s).
DEADLINE = 30.0
# The mock lock declared empty, and the one declared holding codes.
EMPTY_NODE = 3
SEEDED_NODE = 2


def eventually(probe: Callable[[], T], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class ZWaveHarness:
    service: Service
    seam: Seam
    stack: ZWaveStack
    account_id: str
    devices: dict[int, str]  # node id -> device id

    def status(self, access_code_id: str) -> str:
        return str(self.seam.access_codes.get(access_code_id=access_code_id).status)

    def slot_of(self, node: int, pin: str) -> int | None:
        """The slot of the lock's own memory that holds ``pin``."""
        return next((s for s, code in self.stack.codes(node).items() if code == pin), None)

    def events(self, event_type: str, **match: Any) -> list[Any]:
        """Events of ``event_type`` whose fields include ``match``."""
        return [
            e
            for e in self.seam.events.list(event_type=event_type, since="2000-01-01T00:00:00Z")
            if all(getattr(e, k, None) == v for k, v in match.items())
        ]


def z_wave_account(
    database_url: str, stack: ZWaveStack, clock: Clock, **config: object
) -> tuple[Service, AccountRef]:
    """A service without its worker, whose workspace has the stack's server connected
    (a real account row: the driver keeps its listener lease there)."""
    service = Service(replace(make_settings(database_url), run_worker=False), clock)
    workspace_id, _ = service.create_workspace("Z-Wave", sandbox=False)
    settings = {"url": stack.ws_url, **config}
    account_id = service.connect_account("zwave-js", workspace_id, settings)
    return service, AccountRef(account_id, settings)


def reset_locks(stack: ZWaveStack, empty: bool = False) -> None:
    """Every mock lock alive, locked and holding its declared codes (none, when
    ``empty``), and zwave-js's cache agreeing."""
    memory = {node: {} if empty else dict(stack.locks[node].codes) for node in stack.node_ids}
    for node, codes in memory.items():
        stack.reset(node, codes=codes)
    sync_cache(stack.ws_url, memory)


@pytest.fixture
def zwave(database_url: str, zwave_stack: ZWaveStack) -> Iterator[ZWaveHarness]:
    """pinwarden over real HTTP on the real clock, with the stack's server connected."""
    reset_locks(zwave_stack)
    settings = replace(
        make_settings(database_url),
        # Time-bound codes go on at starts_at, so a short window can be watched.
        programming_lead_time=timedelta(0),
        idle_poll=timedelta(seconds=0.5),
    )
    service = Service(settings, SystemClock())
    workspace_id, key = service.create_workspace("Z-Wave", sandbox=False)
    account_id = service.connect_account("zwave-js", workspace_id, {"url": zwave_stack.ws_url})
    asyncio.run(service.discover_once(account_id))
    with no_logged_errors(), http_server(service.app) as endpoint:
        seam = Seam(api_key=key, endpoint=endpoint)
        devices = {
            int(str(d.properties.name).rpartition("node ")[2].rstrip(")")): d.device_id
            for d in seam.devices.list()
        }
        yield ZWaveHarness(service, seam, zwave_stack, account_id, devices)
