"""The Z-Wave JS driver's own duties on the real stack: it reconnects to a server that went
away (every lock shows ``hub_disconnected`` meanwhile), keeps to a node's command budget,
and of several processes only one hands on an account's reports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

from pinwarden.clock import FakeClock
from pinwarden.devices.driver import (
    AccountRef,
    Connectivity,
    DeviceEvent,
    DeviceRef,
    DeviceUnavailable,
    Driver,
    KeypadUnlock,
    OpAck,
    OpOutcome,
    SlotOp,
)
from pinwarden.devices.zwave_js.driver import ZWaveJSDriver
from pinwarden.devices.zwave_js.listener import LEASE
from pinwarden.service import Service
from pinwarden.store.notify import WakeListener
from pinwarden.store.tables import ConnectedAccount
from tests.conftest import START
from tests.zwave.conftest import EMPTY_NODE, reset_locks, z_wave_account
from tests.zwave_stack import ZWaveStack

EVENT_TIMEOUT = 20.0


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
    database_url: str, zwave_stack: ZWaveStack
) -> None:
    reset_locks(zwave_stack)

    async def body() -> None:
        proxy = Proxy(zwave_stack.ws_port)
        await proxy.start()
        service, account = z_wave_account(
            database_url, zwave_stack, FakeClock(START), url=f"ws://127.0.0.1:{proxy.port}"
        )
        driver = service.integrations.zwave_js
        await driver.start()
        try:
            lock, ref = await empty_lock(driver, account)
            stream = driver.events()

            await proxy.cut()
            gone = await next_connectivity(stream, lock, online=False)
            assert gone.error_code == "hub_disconnected"
            try:
                await driver.read_slots(ref, False)
            except DeviceUnavailable as exc:
                assert exc.error_code == "hub_disconnected"
            else:
                raise AssertionError("a read without a server succeeded")

            await proxy.restore()
            await next_connectivity(stream, lock, online=True)
            outcomes = await driver.apply(ref, [SlotOp("set", 1, "1470")])
            assert [type(o) for o in outcomes] == [OpAck]
            assert zwave_stack.codes(EMPTY_NODE) == {1: "1470"}
        finally:
            await driver.aclose()
            service.db.dispose()
            with contextlib.suppress(Exception):
                await proxy.cut()

    asyncio.run(body())


def test_a_node_is_sent_no_more_than_its_hourly_budget(
    database_url: str, zwave_stack: ZWaveStack
) -> None:
    reset_locks(zwave_stack)
    clock = FakeClock(START)
    # A set is two commands (Set, then the Get that confirms it).
    service, account = z_wave_account(database_url, zwave_stack, clock, commands_per_hour=4)
    driver = service.integrations.zwave_js

    async def body() -> tuple[list[OpOutcome], list[OpOutcome], list[OpOutcome]]:
        await driver.start()
        try:
            _, ref = await empty_lock(driver, account)
            first = await driver.apply(ref, [SlotOp("set", 1, "1111"), SlotOp("set", 2, "2222")])
            refused = await driver.apply(ref, [SlotOp("set", 3, "3333")])
            clock.advance(timedelta(hours=1, seconds=1))
            later = await driver.apply(ref, [SlotOp("set", 3, "3333")])
            return first, refused, later
        finally:
            await driver.aclose()
            service.db.dispose()

    first, refused, later = asyncio.run(body())
    assert [type(o) for o in first] == [OpAck, OpAck]
    assert [type(o) for o in refused] == [DeviceUnavailable]
    assert "budget" in str(refused[0])
    assert [type(o) for o in later] == [OpAck]
    assert zwave_stack.codes(EMPTY_NODE) == {1: "1111", 2: "2222", 3: "3333"}


def test_one_process_at_a_time_hands_on_an_accounts_reports(
    database_url: str, zwave_stack: ZWaveStack
) -> None:
    """Two processes (two drivers on one database) hear the same server: only the
    listener's reports reach its engine, and the other takes over when it stops: on
    PostgreSQL as soon as it does (woken by the release's NOTIFY), on SQLite at the next
    renewal."""
    reset_locks(zwave_stack)
    clock = FakeClock(START)
    service, account = z_wave_account(database_url, zwave_stack, clock)
    other = Service(replace(service.settings, run_worker=False), clock)
    first, second = service.integrations.zwave_js, other.integrations.zwave_js

    async def unlocks(driver: ZWaveJSDriver, wait: float) -> list[KeypadUnlock]:
        seen: list[KeypadUnlock] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                async for event in driver.events():
                    if isinstance(event, KeypadUnlock):
                        seen.append(event)
        return seen

    async def body() -> tuple[int, int, int]:
        await first.start()
        await second.start()
        try:
            await empty_lock(first, account)
            await empty_lock(second, account)
            zwave_stack.keypad_unlock(EMPTY_NODE, 1)
            heard = await asyncio.gather(unlocks(first, 2), unlocks(second, 2))
            if other.listener is None:  # SQLite: the next renewal takes it
                await first.aclose()
                await holder_becomes(other, account.connected_account_id, LEASE.total_seconds())
            else:
                async with hearing_releases(other):
                    await first.aclose()  # gives the lease up
                    # Renewals come every third of the lease; the NOTIFY is far sooner.
                    await holder_becomes(
                        other, account.connected_account_id, LEASE.total_seconds() / 6
                    )
            zwave_stack.keypad_unlock(EMPTY_NODE, 1)
            after = await unlocks(second, 3)
            return len(heard[0]), len(heard[1]), len(after)
        finally:
            await first.aclose()
            await second.aclose()
            service.db.dispose()
            other.db.dispose()

    assert asyncio.run(body()) == (1, 0, 1)


@contextlib.asynccontextmanager
async def hearing_releases(service: Service) -> AsyncIterator[None]:
    """Run ``service``'s NOTIFY wake-ups for its Z-Wave JS listeners, as its background
    loops do on PostgreSQL, once it listens."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()

    def wake() -> None:
        service.integrations.zwave_js.listener_released()
        loop.call_soon_threadsafe(ready.set)

    stop = asyncio.Event()
    listening = asyncio.create_task(WakeListener(service.db.url, {"listeners": wake}).run(stop))
    await asyncio.wait_for(ready.wait(), 10)  # it wakes its loops once it listens
    try:
        yield
    finally:
        stop.set()
        await listening


async def holder_becomes(service: Service, account_id: str, timeout: float) -> None:
    """Poll until ``service``'s driver holds the account's listener lease."""
    owner = service.integrations.zwave_js.listener_owner

    def holder() -> str | None:
        with service.db.read() as session:
            account = session.get(ConnectedAccount, account_id)
            return None if account is None else account.listener_id

    async with asyncio.timeout(timeout):
        while await asyncio.to_thread(holder) != owner:
            await asyncio.sleep(0.05)


async def empty_lock(driver: Driver, account: AccountRef) -> tuple[str, DeviceRef]:
    """The stack's empty lock, as the driver discovers it, and a reference to it."""
    found = await driver.discover(account)
    lock = next(f for f in found if f.address.endswith(f":{EMPTY_NODE}"))
    ref = DeviceRef("d", lock.address, account.connected_account_id, None, lock.capabilities)
    return lock.address, ref
