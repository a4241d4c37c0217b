"""The Z-Wave JS driver's own duties on the real stack: it reconnects to a server that went
away (every lock shows ``hub_disconnected`` meanwhile), and it keeps to a node's command
budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from pinwarden.clock import FakeClock
from pinwarden.devices.driver import (
    AccountRef,
    Connectivity,
    DeviceEvent,
    DeviceRef,
    DeviceUnavailable,
    OpAck,
    SlotOp,
)
from pinwarden.devices.zwave_js.driver import ZWaveJSDriver
from pinwarden.store.db import Database
from tests.conftest import START
from tests.zwave.conftest import EMPTY_NODE, reset_locks
from tests.zwave_stack import ZWaveStack

EVENT_TIMEOUT = 20.0
# Accounts here pass their settings to discover, so the driver never reads them stored.
NO_DATABASE = Database("sqlite://")


class Proxy:
    """A TCP relay in front of the Z-Wave JS server whose line can be cut and restored."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        """Close every connection and refuse new ones."""
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.close()
        self._open.clear()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start(self.port)


async def next_connectivity(
    stream: AsyncIterator[DeviceEvent], address: str, online: bool
) -> Connectivity:
    """The next report that the lock at ``address`` is (``online``) or is not reachable."""
    while True:
        event = await asyncio.wait_for(anext(stream), EVENT_TIMEOUT)
        if isinstance(event, Connectivity) and (event.address, event.online) == (address, online):
            return event


def test_a_lost_server_shows_as_hub_disconnected_until_it_is_back(
    zwave_stack: ZWaveStack,
) -> None:
    reset_locks(zwave_stack)

    async def body() -> None:
        proxy = Proxy(zwave_stack.ws_port)
        await proxy.start()
        driver = ZWaveJSDriver(NO_DATABASE, FakeClock(START))
        await driver.start()
        try:
            account = AccountRef("account", {"url": f"ws://127.0.0.1:{proxy.port}"})
            found = await driver.discover(account)
            lock = next(f for f in found if f.address.endswith(f":{EMPTY_NODE}"))
            ref = DeviceRef("d", lock.address, "account", None, lock.capabilities)
            stream = driver.events()

            await proxy.cut()
            gone = await next_connectivity(stream, lock.address, online=False)
            assert gone.error_code == "hub_disconnected"
            try:
                await driver.read_slots(ref, False)
            except DeviceUnavailable as exc:
                assert exc.error_code == "hub_disconnected"
            else:
                raise AssertionError("a read without a server succeeded")

            await proxy.restore()
            await next_connectivity(stream, lock.address, online=True)
            outcomes = await driver.apply(ref, [SlotOp("set", 1, "1470")])
            assert [type(o) for o in outcomes] == [OpAck]
            assert zwave_stack.codes(EMPTY_NODE) == {1: "1470"}
        finally:
            await driver.aclose()
            with contextlib.suppress(Exception):
                await proxy.cut()

    asyncio.run(body())


def test_a_node_is_sent_no_more_than_its_hourly_budget(zwave_stack: ZWaveStack) -> None:
    reset_locks(zwave_stack)
    clock = FakeClock(START)

    async def body() -> tuple[list[object], list[object], list[object]]:
        driver = ZWaveJSDriver(NO_DATABASE, clock)
        await driver.start()
        try:
            # A set is two commands (Set, then the Get that confirms it).
            account = AccountRef("account", {"url": zwave_stack.ws_url, "commands_per_hour": 4})
            found = await driver.discover(account)
            lock = next(f for f in found if f.address.endswith(f":{EMPTY_NODE}"))
            ref = DeviceRef("d", lock.address, "account", None, lock.capabilities)
            first = await driver.apply(ref, [SlotOp("set", 1, "1111"), SlotOp("set", 2, "2222")])
            refused = await driver.apply(ref, [SlotOp("set", 3, "3333")])
            clock.advance(timedelta(hours=1, seconds=1))
            later = await driver.apply(ref, [SlotOp("set", 3, "3333")])
            return list(first), list(refused), list(later)
        finally:
            await driver.aclose()

    first, refused, later = asyncio.run(body())
    assert [type(o) for o in first] == [OpAck, OpAck]
    assert [type(o) for o in refused] == [DeviceUnavailable]
    assert "budget" in str(refused[0])
    assert [type(o) for o in later] == [OpAck]
    assert zwave_stack.codes(EMPTY_NODE) == {1: "1111", 2: "2222", 3: "3333"}
