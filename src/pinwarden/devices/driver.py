"""The driver interface every lock integration implements (ARCHITECTURE decision 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class DeviceRef:
    """What a driver needs to address one lock."""

    device_id: str
    model_key: str


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


class Driver(Protocol):
    """A small async interface: read the slots, set a code into a slot, clear a slot."""

    async def read_slots(self, device: DeviceRef) -> list[SlotReport]: ...

    async def set_code(
        self,
        device: DeviceRef,
        slot: int,
        code: str,
        name: str | None,
        window: tuple[datetime, datetime] | None = None,
    ) -> OpAck:
        """Program ``code`` into ``slot``; with ``window`` the lock enforces it natively."""
        ...

    async def remove_code(self, device: DeviceRef, slot: int) -> OpAck: ...
