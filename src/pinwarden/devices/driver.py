"""The driver interface every lock integration implements (ARCHITECTURE decisions 5, 9).

A driver is the only code that talks to locks. The engine calls it from its own event
loop; a driver does its blocking work off that loop (``asyncio.to_thread``), since other
drivers (a websocket client) share it.

Lifecycle: :meth:`Driver.start` once before any other call, :meth:`Driver.aclose` once at
shutdown; ``aclose`` ends every pending call and the :meth:`Driver.events` stream promptly
(calls in flight fail with :class:`DeviceUnavailable`), without raising.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pinwarden.devices.capabilities import LockCapabilities


@dataclass(frozen=True)
class DeviceRef:
    """What a driver needs to address one lock."""

    device_id: str
    # The driver's own name for the lock (a Z-Wave node id, a vendor's lock id), as its
    # ``discover`` reported it.
    address: str
    connected_account_id: str
    # IANA zone of the lock (``America/New_York``), for drivers that speak local time;
    # None while unknown.
    time_zone: str | None
    capabilities: LockCapabilities


@dataclass(frozen=True)
class AccountRef:
    """A connected account as its driver sees it: its id and configuration (which may
    hold secrets: drivers never log it)."""

    connected_account_id: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DiscoveredLock:
    """One lock an account gives access to, as the driver found it."""

    address: str
    name: str
    capabilities: LockCapabilities
    # Between 0 and 1; None when the lock does not say.
    battery_level: float | None = None
    # The zone the lock's clock runs in, when the integration knows it.
    time_zone: str | None = None


@dataclass(frozen=True)
class SlotReport:
    """One PIN slot as the lock reports it; ``code`` is None when the lock hides PINs."""

    slot: int
    code: str | None
    name: str | None = None
    # The window the lock enforces itself, when the code was loaded with a schedule.
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class OpAck:
    """The lock accepted an operation; it should be visible in a read by ``settles_at``.

    ``confirmed``: the write was verified (a supervised command, a read-back the driver did
    itself), so the engine counts it as on the lock without waiting for a read; a
    :meth:`Driver.read_slots` with ``fresh`` false right after must show it (the engine
    reads back so, to record the pass's outcome in the pass).
    """

    settles_at: datetime
    confirmed: bool = False


class DeviceUnavailable(Exception):
    """The lock (or its hub) cannot be reached right now; try again later.

    ``error_code`` is the device error it shows as (spec §5.1: ``device_offline``,
    ``hub_disconnected``, …).
    """

    def __init__(self, message: str, error_code: str = "device_offline") -> None:
        super().__init__(message)
        self.error_code = error_code


class DeviceRejected(Exception):
    """The lock refused the operation; retrying the same thing will not help."""


@dataclass(frozen=True)
class SlotOp:
    """One change to one slot: program a PIN (optionally with a native window) or clear it.

    A removal that carries ``code`` clears the slot only while it still holds that PIN (a
    lock that cannot check acts as if it did); otherwise it is acknowledged with no effect.
    """

    kind: Literal["set", "remove"]
    slot: int
    code: str | None = None
    name: str | None = None
    window: tuple[datetime, datetime] | None = None


OpOutcome = OpAck | DeviceUnavailable | DeviceRejected


@dataclass(frozen=True)
class SlotChanged:
    """The lock says a slot changed (at the keypad, or a write landed): worth a fresh read."""

    address: str
    occurred_at: datetime
    slot: int | None = None


@dataclass(frozen=True)
class Connectivity:
    """The lock went offline or came back (``error_code`` says how it shows while away)."""

    address: str
    occurred_at: datetime
    online: bool
    error_code: str = "device_offline"


@dataclass(frozen=True)
class KeypadUnlock:
    """The lock was opened at its keypad with the PIN in ``slot`` (None: the lock does not
    say which, or the PIN was one it read offline: then ``code`` is the PIN typed)."""

    address: str
    occurred_at: datetime
    slot: int | None
    code: str | None = None


@dataclass(frozen=True)
class AccessDenied:
    """A PIN was typed at the keypad and refused."""

    address: str
    occurred_at: datetime


@dataclass(frozen=True)
class ManualLockChange:
    """The lock was locked or unlocked by hand (thumb turn, key, keypad lock button)."""

    address: str
    occurred_at: datetime
    locked: bool
    method: str = "manual"


@dataclass(frozen=True)
class BatteryLevel:
    """The lock reported its battery level, between 0 and 1."""

    address: str
    occurred_at: datetime
    level: float


DeviceEvent = (
    SlotChanged | Connectivity | KeypadUnlock | AccessDenied | ManualLockChange | BatteryLevel
)


class Driver(Protocol):
    """Describe, discover, act and report (ARCHITECTURE decision 9)."""

    async def start(self) -> None:
        """Connect to whatever the driver talks to; called once before anything else."""
        ...

    async def aclose(self) -> None:
        """Stop: pending calls end with :class:`DeviceUnavailable`, :meth:`events` ends."""
        ...

    async def discover(self, account: AccountRef) -> list[DiscoveredLock]:
        """Every lock ``account`` gives access to now, with what it reports about itself;
        raises :class:`DeviceUnavailable` when the account cannot be asked."""
        ...

    async def read_slots(self, device: DeviceRef, fresh: bool) -> list[SlotReport]:
        """What every occupied slot holds; raises :class:`DeviceUnavailable`.

        With ``fresh`` false the driver may answer from what it last heard from the lock.
        The engine passes ``fresh=True`` when the answer must come from the lock itself:
        on the periodic drift check, after a slot-changed event, and while operations it
        sent are acknowledged but not confirmed (checking they landed).
        """
        ...

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        """Send ``ops`` to the lock in order; one outcome per op, in order, failures
        returned, never raised. Drivers for locks that take one command at a time simply
        loop; others may batch."""
        ...

    async def set_locked(self, device: DeviceRef, locked: bool) -> OpOutcome:
        """Lock (True) or unlock the door; the outcome is returned, never raised: OpAck
        (confirmed=True when the lock reported the new state), DeviceUnavailable or
        DeviceRejected."""
        ...

    def events(self) -> AsyncIterator[DeviceEvent]:
        """What the driver's locks report on their own, in order, until :meth:`aclose`."""
        ...
