"""The driver interface every lock integration implements (ARCHITECTURE decision 5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True)
class DeviceRef:
    """What a driver needs to address one lock."""

    device_id: str
    model_key: str
    # IANA zone of the lock (``America/New_York``), for drivers that speak local time;
    # None while unknown.
    time_zone: str | None


@dataclass(frozen=True)
class SlotReport:
    """One PIN slot as the lock reports it."""

    slot: int
    code: str | None
    name: str | None = None
    # The window the lock enforces itself, when the code was loaded with a schedule.
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class OpAck:
    """The lock accepted an operation; it should be visible in a read by ``settles_at``."""

    settles_at: datetime


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


class Driver(Protocol):
    """A small async interface: read a lock's slots, and apply changes to them."""

    async def read_slots(self, device: DeviceRef) -> list[SlotReport]:
        """What every occupied slot holds now; raises :class:`DeviceUnavailable`."""
        ...

    async def apply(self, device: DeviceRef, ops: Sequence[SlotOp]) -> list[OpOutcome]:
        """Send ``ops`` to the lock in order; one outcome per op, failures returned, not
        raised. Drivers for locks that take one command at a time simply loop; others
        may batch."""
        ...
