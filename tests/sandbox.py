"""Test helpers that reach into the sandbox integration's simulated locks."""

from __future__ import annotations

from typing import Any

from pinwarden.devices.driver import DeviceRef
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.store.db import Database
from pinwarden.store.tables import Device


def device_ref(db: Database, device_id: str) -> DeviceRef:
    """What the engine hands the driver for ``device_id``."""
    with db.read() as s:
        d = s.get(Device, device_id)
        assert d is not None
        return DeviceRef(d.device_id, d.address, d.connected_account_id, d.time_zone, d.caps)


def lock_id(db: Database, device_id: str) -> str:
    """The simulated lock behind ``device_id``."""
    with db.read() as s:
        d = s.get(Device, device_id)
        assert d is not None
        return d.address


def set_faults(db: Database, device_id: str, faults: dict[str, Any]) -> None:
    """Replace the simulated lock's fault settings."""
    with db.write() as s:
        lock = s.get(SandboxLock, lock_id(db, device_id))
        assert lock is not None
        lock.faults = faults


def set_online(db: Database, device_id: str, online: bool) -> None:
    """Take the simulated lock off the air (or back) without it saying so."""
    with db.write() as s:
        lock = s.get(SandboxLock, lock_id(db, device_id))
        assert lock is not None
        lock.online = online
