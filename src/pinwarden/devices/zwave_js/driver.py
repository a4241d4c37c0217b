"""The Z-Wave JS driver: Z-Wave keypad locks behind a Z-Wave JS server.

How it keeps pinwarden's view of each lock true while asking the mesh as little as it can
(the modes Lock Code Manager's providers name):

- **Push.** The server keeps a cache of every node's user codes (filled at the node's
  interview: the server must run with ``interview.queryAllUserCodes: true``, or zwave-js
  clears the codes on a lock's first interview). Locks report keypad programming, keypad
  and manual operations as Access Control notifications; they become device events, and
  a slot the lock says changed is read again before it is trusted.
- **Poll.** Reads answer from the cache; a slot the cache does not know yet, or one a
  notification made suspect, is read from the lock (User Code Get) first. The first fresh
  read of a lock in a process also reads every occupied slot once, so a write whose
  confirmation was lost with an earlier process is checked at the lock.
- **Drift.** A fresh read (the engine's hourly drift check) also re-reads the next
  ``SWEEP_SLOTS`` slots of a rolling sweep, at most every ``SWEEP_SPACING``: a change the
  lock never reported is found within a few hours on a 30-slot lock, about a day on a
  250-slot one, without reading every slot every hour.

Every write is a Set followed by a Get of the same slot: an acknowledged Set only means the
frame arrived (a lock may drop a duplicate PIN), so only a Get that shows the PIN confirms
it. Commands to one node go one at a time, at most ``commands_per_hour`` an hour; a dead
node is not sent anything but a ping, with back-off, until it answers or reports itself.

PINs travel in clear to the server; this module never logs them (nor does the client
library, whose debug logging of whole messages is capped at INFO here).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from zwave_js_server.const import CommandClass, NodeStatus
from zwave_js_server.const.command_class.lock import DoorLockMode
from zwave_js_server.exceptions import (
    BaseZwaveJSServerError,
    FailedZWaveCommand,
    NotFoundError,
)

from pinwarden.clock import Clock
from pinwarden.devices.driver import (
    AccountRef,
    BatteryLevel,
    Connectivity,
    DeviceEvent,
    DeviceRef,
    DeviceRejected,
    DeviceUnavailable,
    DiscoveredLock,
    OpAck,
    OpOutcome,
    SlotChanged,
    SlotOp,
    SlotReport,
)
from pinwarden.devices.zwave_js.budget import NodeBudget
from pinwarden.devices.zwave_js.connection import Connection, shown
from pinwarden.devices.zwave_js.listener import LEASE, ListenerLeases
from pinwarden.devices.zwave_js.nodes import (
    address_of,
    battery,
    battery_level,
    capabilities_of,
    has_cc,
    node_and_home,
)
from pinwarden.devices.zwave_js.reports import ACCESS_CONTROL, RF_OPERATIONS, access_control_event
from pinwarden.devices.zwave_js.slots import (
    AVAILABLE,
    ENABLED,
    CachedSlot,
    answered,
    cached_slot,
    cached_slots,
)
from pinwarden.store.db import Database
from pinwarden.store.tables import ConnectedAccount

# zwave_js_server's models and aiohttp take about 0.6 s to import; they load with the
# first Z-Wave JS connection (see connection.py), so commands that never reach a lock
# start without them.
if TYPE_CHECKING:
    from zwave_js_server.model.driver import Driver as ZDriver
    from zwave_js_server.model.node import Node

log = logging.getLogger(__name__)
DRIVER_NAME = "zwave-js"
# Whole messages, PINs included, are logged by the client library at DEBUG.
logging.getLogger("zwave_js_server").setLevel(logging.INFO)

T = TypeVar("T")
# Real seconds: a call waits this long for an account's first connection, and one command
# this long for the node (zwave-js gives up on an unreachable node after a few seconds).
CONNECT_WAIT_SECONDS = 10.0
COMMAND_SECONDS = 30.0
DEFAULT_COMMANDS_PER_HOUR = 300
SWEEP_SLOTS = 10
SWEEP_SPACING = timedelta(minutes=15)
# Real seconds: a slot's value reports this soon after pinwarden's own command on it are
# that command's echo; so is the lock's report of the Door Lock operation it was sent.
ECHO_SECONDS = 2.0
DOOR_ECHO_SECONDS = 10.0
# A Get's answer and the value updates it makes in the server's cache arrive as separate
# messages, the updates sometimes just after the answer: how long a read waits for them.
CACHE_CATCH_UP_SECONDS = 1.0
# zwave-js errors that say the command itself is wrong for the node: retrying won't help.
REFUSED_ERRORS = frozenset({302, 303, 322})  # CC_NotSupported, CC_NotImplemented, Argument_Invalid


@dataclass
class _Account:
    connected_account_id: str
    connection: Connection
    commands_per_hour: int
    home_id: int | None = None
    subscribed: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    connections: int = 0
    # This process holds the account's listener lease: its reports are handed on.
    listening: bool = False
    holder: asyncio.Task[None] | None = None
    # Set when some process gave a listener lease up: try to take it now.
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _NodeState:
    """What the driver keeps about one lock node between calls."""

    account: _Account
    budget: NodeBudget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Slots whose cached value the lock said changed; read again before trusted.
    suspect: set[int] = field(default_factory=set)
    # Slots this process has read from the lock itself.
    verified: set[int] = field(default_factory=set)
    sweep_next: int = 1
    swept_at: datetime | None = None
    # Monotonic time until which a slot's value updates are the echo of pinwarden's own
    # command (infinite while it is on the mesh; they may trail its answer).
    echo_until: dict[int, float] = field(default_factory=dict)
    # The Door Lock report expected back from pinwarden's own command, and until when.
    door_echo: tuple[int, float] | None = None
    # Last reachability told to the engine; None before the first connection.
    online: bool | None = None


def _failed(exc: Exception) -> DeviceUnavailable | DeviceRejected:
    """A failed command as the engine sees it (only codes and types are kept: the
    library's texts are not promised to be free of what was sent)."""
    if isinstance(exc, FailedZWaveCommand):
        if exc.zwave_error_code in REFUSED_ERRORS:
            return DeviceRejected(
                f"the node refused the command (Z-Wave JS error {exc.zwave_error_code})"
            )
        return DeviceUnavailable(
            f"the node did not answer (Z-Wave JS error {exc.zwave_error_code})"
        )
    if isinstance(exc, NotFoundError):
        return DeviceRejected("the node does not support the command")
    if isinstance(exc, TimeoutError):
        return DeviceUnavailable("the node did not answer in time")
    return DeviceUnavailable(
        f"the Z-Wave JS server connection failed the command ({type(exc).__name__})",
        "hub_disconnected",
    )


class ZWaveJSDriver:
    """Driver for Z-Wave locks (nodes with User Code CC) on Z-Wave JS servers; one
    websocket connection per connected account (its ``url`` setting)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._accounts: dict[str, _Account] = {}
        self._leases = ListenerLeases(db, clock)
        self._opening = asyncio.Lock()
        self._nodes: dict[str, _NodeState] = {}
        self._events: asyncio.Queue[DeviceEvent | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = True

    async def start(self) -> None:
        """Ready to connect: accounts connect on first use."""
        self._closed = False
        self._opening = asyncio.Lock()
        self._events = asyncio.Queue()
        self._loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        """Close every connection and end the event stream."""
        self._closed = True
        async with self._opening:
            accounts, self._accounts = self._accounts, {}
        for account in accounts.values():
            await self._close_account(account)
        if self._events is not None:
            self._events.put_nowait(None)

    def listener_released(self) -> None:
        """Some process gave a listener lease up: try to take the leases not held here
        now, not at the next renewal (safe to call from any thread)."""
        loop = self._loop
        if loop is None or self._closed:
            return
        # The loop may have just stopped; then there is nobody left to wake.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._wake_holders)

    def _wake_holders(self) -> None:
        for account in self._accounts.values():
            if not account.listening:
                account.released.set()

    @property
    def listener_owner(self) -> str:
        """The id this process holds listener leases under (see :mod:`.listener`)."""
        return self._leases.owner

    def commands_last_hour(self, address: str) -> int:
        """Commands (pings included) sent to the lock at ``address`` in the last hour of
        the clock: what the mesh was asked to carry for it."""
        state = self._nodes.get(address)
        return 0 if state is None else state.budget.sent_last_hour(self._clock.now())

    # Connections -----------------------------------------------------------------

    def _stored_config(self, connected_account_id: str) -> dict[str, Any]:
        with self._db.read() as session:
            config = session.scalar(
                select(ConnectedAccount.config).where(
                    ConnectedAccount.connected_account_id == connected_account_id
                )
            )
        return dict(config or {})

    async def _account(
        self, connected_account_id: str, config: dict[str, Any] | None = None
    ) -> _Account:
        """The account's connection, opened on first use (one per account, however many
        passes ask at once)."""
        async with self._opening:
            if self._closed:
                raise DeviceUnavailable("the Z-Wave JS driver is closed", "hub_disconnected")
            account = self._accounts.get(connected_account_id)
            if account is not None and (
                config is None or config.get("url") == account.connection.url
            ):
                return account
            if config is None:
                config = await asyncio.to_thread(self._stored_config, connected_account_id)
            url, per_hour = _settings(config)
            if account is not None:  # the URL changed
                await self._close_account(account)
            account = _Account(connected_account_id, Connection(url), per_hour)
            account.connection.start(
                functools.partial(self._on_ready, account),
                functools.partial(self._on_lost, account),
            )
            account.holder = asyncio.create_task(self._hold(account), name="zwave-js listener")
            self._accounts[connected_account_id] = account
            return account

    async def _close_account(self, account: _Account) -> None:
        if account.holder is not None:
            account.holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await account.holder
        await account.connection.aclose()
        if account.listening:
            account.listening = False
            try:
                await asyncio.to_thread(self._leases.release, account.connected_account_id)
            except Exception:
                log.exception(
                    "giving up the listener lease of %s failed", account.connected_account_id
                )

    async def _hold(self, account: _Account) -> None:
        """Take and keep the account's listener lease while the driver runs (see
        :mod:`pinwarden.devices.zwave_js.listener`)."""
        while True:
            # Cleared before the claim: a release heard during it means claim again.
            account.released.clear()
            try:
                held = await asyncio.to_thread(self._leases.claim, account.connected_account_id)
            except Exception:
                log.exception(
                    "renewing the listener lease of %s failed", account.connected_account_id
                )
                held = False
            taken_over = held and not account.listening
            account.listening = held
            zdriver = account.connection.current()
            if taken_over and zdriver is not None:
                # Reports before now went to another process, or nowhere.
                self._announce(account, zdriver, fresh_look=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(account.released.wait(), LEASE.total_seconds() / 3)

    def _state(self, account: _Account, address: str) -> _NodeState:
        state = self._nodes.get(address)
        if state is None:
            budget = NodeBudget(account.commands_per_hour)
            state = self._nodes[address] = _NodeState(account, budget)
        state.account = account  # a new connection of the account, after a URL change
        return state

    def _on_ready(self, account: _Account, zdriver: ZDriver) -> None:
        home_id = zdriver.controller.home_id or 0
        account.home_id = home_id
        account.connections += 1
        account.subscribed[0] = [
            zdriver.controller.on("node added", lambda e, a=account: self._on_added(a, e))
        ]
        for node in zdriver.controller.nodes.values():
            self._subscribe(account, home_id, node)
        # Reports sent while the connection was down are only in the new state.
        self._announce(account, zdriver, fresh_look=account.connections > 1)

    def _announce(self, account: _Account, zdriver: ZDriver, fresh_look: bool) -> None:
        """Say where each of the account's locks stands (the engine ignores repeats),
        and with ``fresh_look`` that each may have changed unseen."""
        home_id = zdriver.controller.home_id or 0
        now = self._clock.now()
        for node in zdriver.controller.nodes.values():
            if not has_cc(node, CommandClass.USER_CODE):
                continue
            address = address_of(home_id, node.node_id)
            state = self._state(account, address)
            online = node.status != NodeStatus.DEAD
            if online:
                state.budget.alive()
            self._report_online(address, state, online, now)
            if fresh_look:
                self._emit(SlotChanged(address, now))

    def _on_added(self, account: _Account, data: dict[str, Any]) -> None:
        from zwave_js_server.model.node import Node

        node = data.get("node")
        if isinstance(node, Node) and account.home_id is not None:
            self._subscribe(account, account.home_id, node)

    def _subscribe(self, account: _Account, home_id: int, node: Node) -> None:
        """Follow a node's reports; its command classes may be known only after its
        interview, so every node is followed and the handlers look at lock nodes only."""
        address = address_of(home_id, node.node_id)
        for unsubscribe in account.subscribed.pop(node.node_id, []):
            unsubscribe()
        account.subscribed[node.node_id] = [
            node.on("notification", lambda e, a=address: self._on_notification(a, e)),
            node.on("value updated", lambda e, a=address: self._on_value(a, e)),
            node.on("dead", lambda e, a=address, c=account: self._on_status(c, a, e, False)),
            node.on("alive", lambda e, a=address, c=account: self._on_status(c, a, e, True)),
        ]

    def _on_lost(self, account: _Account) -> None:
        for unsubscribes in account.subscribed.values():
            for unsubscribe in unsubscribes:
                unsubscribe()
        account.subscribed.clear()
        if account.home_id is None:
            return
        now = self._clock.now()
        prefix = f"{account.home_id:08x}:"
        for address, state in self._nodes.items():
            if address.startswith(prefix):
                self._report_online(address, state, False, now, "hub_disconnected")

    # What locks report -------------------------------------------------------------

    def _emit(self, event: DeviceEvent) -> None:
        """Hand a report on, if this process is the one that records its account's."""
        state = self._nodes.get(event.address)
        if state is None or not state.account.listening:
            return
        if self._events is not None and not self._closed:
            self._events.put_nowait(event)

    def _lock_state(self, address: str, data: dict[str, Any]) -> _NodeState | None:
        """The node's state when the event is about a lock node, else None."""
        from zwave_js_server.model.node import Node

        node = data.get("node")
        if not isinstance(node, Node) or not has_cc(node, CommandClass.USER_CODE):
            return None
        return self._nodes.get(address)

    def _on_notification(self, address: str, data: dict[str, Any]) -> None:
        from zwave_js_server.model.notification import NotificationNotification

        notification = data.get("notification")
        state = self._lock_state(address, data)
        if not isinstance(notification, NotificationNotification) or state is None:
            return
        if notification.type_ != ACCESS_CONTROL:
            return
        now = self._clock.now()
        event = access_control_event(address, notification.event, notification.parameters, now)
        if event is None:
            return
        if notification.event in RF_OPERATIONS and state.door_echo is not None:
            expected, until = state.door_echo
            if notification.event == expected and time.monotonic() < until:
                state.door_echo = None
                return  # the lock confirming pinwarden's own command: already recorded
        if isinstance(event, SlotChanged):
            node = data["node"]
            if event.slot is not None:
                state.suspect.add(event.slot)
            else:
                state.suspect.update(s.slot for s in cached_slots(node))
        self._emit(event)

    def _on_value(self, address: str, data: dict[str, Any]) -> None:
        from zwave_js_server.model.value import Value

        value = data.get("value")
        state = self._lock_state(address, data)
        if not isinstance(value, Value) or state is None:
            return
        now = self._clock.now()
        level = battery_level(value)
        if level is not None:
            self._emit(BatteryLevel(address, now, level))
        elif value.command_class == CommandClass.USER_CODE:
            slot = value.property_key
            if isinstance(slot, int) and time.monotonic() < state.echo_until.get(slot, 0.0):
                return
            # The lock reported a slot on its own: the cache holds it now; the engine
            # should look.
            self._emit(SlotChanged(address, now, slot if isinstance(slot, int) else None))

    def _report_online(
        self,
        address: str,
        state: _NodeState,
        online: bool,
        now: datetime,
        error_code: str = "device_offline",
    ) -> None:
        """Tell the engine a lock came or went (repeats only on a new connection)."""
        state.online = online
        self._emit(Connectivity(address, now, online, error_code))

    def _on_status(
        self, account: _Account, address: str, data: dict[str, Any], alive: bool
    ) -> None:
        state = self._lock_state(address, data)
        if state is None:
            return
        now = self._clock.now()
        if alive:
            state.budget.alive()
        else:
            state.budget.probe_failed(now)
        if state.online != alive:
            self._report_online(address, state, alive, now)

    async def events(self) -> AsyncIterator[DeviceEvent]:
        """Every lock's reports, in the order the servers sent them, until aclose."""
        queue = self._events
        if queue is None:
            return
        while True:
            event = await queue.get()
            if event is None:
                return
            yield event

    # Describe and discover -----------------------------------------------------------

    async def discover(self, account: AccountRef) -> list[DiscoveredLock]:
        """Every node of the account's server with User Code CC, with the code slots its
        interview found; raises :class:`DeviceUnavailable` while a lock node has not told
        them yet (leaving it out would remove its device, codes and all)."""
        held = await self._account(account.connected_account_id, dict(account.config))
        zdriver = await held.connection.ready(CONNECT_WAIT_SECONDS)
        home_id = zdriver.controller.home_id or 0
        found = []
        for node in zdriver.controller.nodes.values():
            if not has_cc(node, CommandClass.USER_CODE):
                continue
            slots = cached_slots(node)
            if not slots:
                raise DeviceUnavailable(f"node {node.node_id} has not reported its code slots yet")
            config = node.device_config
            found.append(
                DiscoveredLock(
                    address=address_of(home_id, node.node_id),
                    # The name given in Z-Wave JS, else the model and node (two locks
                    # of one model must not look alike).
                    name=node.name or f"{config.label or 'Z-Wave lock'} (node {node.node_id})",
                    capabilities=capabilities_of(node, len(slots)),
                    battery_level=battery(node),
                )
            )
        return found

    # Act -----------------------------------------------------------------------------------

    async def _reach(self, device: DeviceRef) -> tuple[_Account, _NodeState]:
        account = await self._account(device.connected_account_id)
        return account, self._state(account, device.address)

    async def _node(self, account: _Account, device: DeviceRef) -> Node:
        """The device's node as the server knows it now (looked up under the node's lock:
        a reconnection replaces every node object)."""
        zdriver = await account.connection.ready(CONNECT_WAIT_SECONDS)
        home_id, node_id = node_and_home(device.address)
        node = zdriver.controller.nodes.get(node_id)
        if node is None or (zdriver.controller.home_id or 0) != home_id:
            raise DeviceUnavailable("the node is no longer on the Z-Wave network")
        return node

    async def _probe(self, node: Node, state: _NodeState) -> None:
        """Return if the node is not known dead; else ping it when its back-off allows
        (it answers: alive again) and raise :class:`DeviceUnavailable` otherwise."""
        if node.status != NodeStatus.DEAD:
            return
        now = self._clock.now()
        if not state.budget.probe_due(now) or state.budget.spent_until(now) is not None:
            raise DeviceUnavailable("the lock's Z-Wave node is dead")
        state.budget.record(now)
        answered_ping = False
        try:
            answered_ping = await self._guarded(node.async_ping)
        finally:
            if not answered_ping:
                state.budget.probe_failed(now)
        if not answered_ping:
            raise DeviceUnavailable("the lock's Z-Wave node is dead (no answer to a ping)")
        state.budget.alive()

    async def _send(
        self, node: Node, state: _NodeState, slot: int | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        """One command on the mesh, within the node's budget; a dead node is pinged first
        (when its back-off allows) and refused without traffic otherwise. The caller holds
        the node's lock. Every command is waited for (``wait_for_result``): otherwise the
        library answers None when the node dies mid-command, as if it had worked. Value
        reports of ``slot`` meanwhile, and just after, are this command's echo."""
        await self._probe(node, state)
        now = self._clock.now()
        spent_until = state.budget.spent_until(now)
        if spent_until is not None:
            raise DeviceUnavailable(
                f"the node used its budget of {state.budget.per_hour} commands an hour; "
                f"the next may go at {spent_until.isoformat()}"
            )
        state.budget.record(now)
        if slot is not None:
            state.echo_until[slot] = math.inf
        try:
            return await self._guarded(call)
        finally:
            if slot is not None:
                state.echo_until[slot] = time.monotonic() + ECHO_SECONDS

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        import aiohttp  # loaded already: a command needs a connection

        try:
            return await asyncio.wait_for(call(), COMMAND_SECONDS)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this call is being cancelled, not just the command
            # The connection closed under the command (the client cancels what waits).
            raise DeviceUnavailable(
                "the Z-Wave JS server connection closed", "hub_disconnected"
            ) from exc
        except (BaseZwaveJSServerError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _failed(exc) from exc

    async def _get_slot(self, node: Node, state: _NodeState, slot: int) -> CachedSlot:
        """User Code Get of one slot; the server's cache is updated by its answer."""
        answer = await self._send(
            node,
            state,
            slot,
            lambda: node.async_invoke_cc_api(
                CommandClass.USER_CODE, "get", slot, wait_for_result=True
            ),
        )
        got = answered(slot, answer)
        if got is None:
            raise DeviceUnavailable("the lock did not answer a user code read")
        state.suspect.discard(slot)
        state.verified.add(slot)
        await self._cache_caught_up(node, state, got)
        return got

    @staticmethod
    async def _cache_caught_up(node: Node, state: _NodeState, got: CachedSlot) -> None:
        """Wait until the cache shows what the lock answered, so a read right after a
        confirmed write shows the write (the engine reads back so); a slot whose updates
        do not come is asked about again at the next read."""
        try:
            async with asyncio.timeout(CACHE_CATCH_UP_SECONDS):
                while cached_slot(node, got.slot) != got:
                    await asyncio.sleep(0.005)
        except TimeoutError:
            state.suspect.add(got.slot)

    def _to_read(self, state: _NodeState, slots: list[CachedSlot], fresh: bool) -> list[int]:
        """The slots a read must ask the lock about (see the module docstring)."""
        numbers = [s.slot for s in slots]
        wanted = {s.slot for s in slots if not s.known or s.slot in state.suspect}
        if fresh:
            wanted |= {s.slot for s in slots if s.occupied and s.slot not in state.verified}
            now = self._clock.now()
            if numbers and (state.swept_at is None or now - state.swept_at >= SWEEP_SPACING):
                start = state.sweep_next if state.sweep_next <= len(numbers) else 1
                sweep = numbers[start - 1 : start - 1 + SWEEP_SLOTS]
                state.sweep_next = start + len(sweep)
                state.swept_at = now
                wanted.update(sweep)
        return sorted(wanted)

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        """Occupied slots, from the server's cache after reading from the lock every slot
        the cache does not know or a report made suspect (and, when ``fresh``, slots this
        process has not read yet and the next slots of the drift sweep)."""
        account, state = await self._reach(device)
        async with state.lock:
            node = await self._node(account, device)
            await self._probe(node, state)
            for slot in self._to_read(state, cached_slots(node), fresh):
                await self._get_slot(node, state, slot)
            return [SlotReport(s.slot, s.code) for s in cached_slots(node) if s.occupied]

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        """Each op as a Set (or clear) and a Get that confirms it, one after another."""
        try:
            account, state = await self._reach(device)
        except DeviceUnavailable as exc:
            return [exc for _ in ops]
        outcomes: list[OpOutcome] = []
        async with state.lock:
            try:
                node = await self._node(account, device)
            except DeviceUnavailable as exc:
                return [exc for _ in ops]
            for op in ops:
                try:
                    if op.kind == "set":
                        outcomes.append(await self._set(node, state, op))
                    else:
                        outcomes.append(await self._clear(node, state, op))
                except (DeviceUnavailable, DeviceRejected) as exc:
                    outcomes.append(exc)
        return outcomes

    async def _set(self, node: Node, state: _NodeState, op: SlotOp) -> OpOutcome:
        if op.window is not None:
            return DeviceRejected("this driver does not load schedules onto Z-Wave locks")
        if op.code is None:
            return DeviceRejected("a set needs a PIN")
        code = op.code
        await self._send(
            node,
            state,
            op.slot,
            lambda: node.async_invoke_cc_api(
                CommandClass.USER_CODE, "set", op.slot, ENABLED, code, wait_for_result=True
            ),
        )
        got = await self._confirm(node, state, op.slot)
        if got is None:
            return OpAck(self._clock.now())
        if got.status == AVAILABLE or (got.code is not None and got.code != code):
            # Acknowledged but not kept: a lock drops a PIN another slot already holds.
            return DeviceRejected("the lock acknowledged the code but did not store it")
        if got.status != ENABLED:
            return OpAck(self._clock.now())  # held, but not (yet) in use: look again later
        return OpAck(self._clock.now(), confirmed=True)

    async def _clear(self, node: Node, state: _NodeState, op: SlotOp) -> OpOutcome:
        if op.code is not None:
            # Only while the slot still holds that PIN: ask the lock when the cache may
            # be behind.
            held = cached_slot(node, op.slot)
            if held is None or not held.known or op.slot in state.suspect:
                held = await self._get_slot(node, state, op.slot)
            if not held.occupied or (held.code is not None and held.code != op.code):
                return OpAck(self._clock.now(), confirmed=True)
        await self._send(
            node,
            state,
            op.slot,
            lambda: node.async_invoke_cc_api(
                CommandClass.USER_CODE, "clear", op.slot, wait_for_result=True
            ),
        )
        got = await self._confirm(node, state, op.slot)
        if got is None:
            return OpAck(self._clock.now())
        if got.occupied:
            return DeviceRejected("the lock acknowledged the removal but still holds the code")
        return OpAck(self._clock.now(), confirmed=True)

    async def _confirm(self, node: Node, state: _NodeState, slot: int) -> CachedSlot | None:
        """The slot as the lock reports it right after a write; None when the lock did
        not answer the read (then the write is acknowledged, not confirmed)."""
        try:
            return await self._get_slot(node, state, slot)
        except DeviceUnavailable:
            state.suspect.add(slot)
            return None

    async def set_locked(self, device: DeviceRef, locked: bool) -> OpOutcome:
        """Door Lock Operation Set, confirmed by a Door Lock Operation Get."""
        try:
            account, state = await self._reach(device)
        except DeviceUnavailable as exc:
            return exc
        mode = DoorLockMode.SECURED if locked else DoorLockMode.UNSECURED
        echo = 3 if locked else 4  # Access Control "RF lock / unlock operation"
        async with state.lock:
            try:
                node = await self._node(account, device)
                await self._send(
                    node,
                    state,
                    None,
                    lambda: node.async_invoke_cc_api(
                        CommandClass.DOOR_LOCK, "set", mode.value, wait_for_result=True
                    ),
                )
                state.door_echo = (echo, time.monotonic() + DOOR_ECHO_SECONDS)
                report = await self._send(
                    node,
                    state,
                    None,
                    lambda: node.async_invoke_cc_api(
                        CommandClass.DOOR_LOCK, "get", wait_for_result=True
                    ),
                )
            except (DeviceUnavailable, DeviceRejected) as exc:
                return exc
        current = report.get("currentMode") if isinstance(report, dict) else None
        if current not in (DoorLockMode.SECURED, DoorLockMode.UNSECURED):
            return OpAck(self._clock.now())  # still moving, or no answer: not confirmed
        if (current == DoorLockMode.SECURED) != locked:
            return DeviceRejected(
                "the lock did not " + ("lock" if locked else "unlock") + " (jammed or blocked?)"
            )
        return OpAck(self._clock.now(), confirmed=True)


def _settings(config: dict[str, Any]) -> tuple[str, int]:
    """An account's server URL and command budget; raises :class:`DeviceUnavailable` for
    settings that can't be used."""
    url = config.get("url")
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise DeviceUnavailable(
            "the account has no Z-Wave JS server URL (ws://HOST:PORT)", "hub_disconnected"
        )
    per_hour = config.get("commands_per_hour", DEFAULT_COMMANDS_PER_HOUR)
    try:
        per_hour = int(per_hour)
    except (TypeError, ValueError):
        per_hour = 0
    if per_hour < 1:
        raise DeviceUnavailable(
            f"commands_per_hour must be a whole number above 0 (server {shown(url)})",
            "hub_disconnected",
        )
    return url, per_hour
