"""Discovery: the locks a connected account's driver reports become, stay, or stop being
devices (``device.added`` / ``device.removed``), with their capabilities kept current.

Runs for every account at start and every ``discovery_interval`` of clock time; a new
sandbox account is discovered at once, in the transaction that creates it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.clock import Clock
from pinwarden.devices.driver import AccountRef, DeviceUnavailable, DiscoveredLock, Driver
from pinwarden.store.db import Database
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.tables import ConnectedAccount, Device

log = logging.getLogger(__name__)


def remove_device(session: Session, device: Device, now: datetime) -> None:
    """The lock has left its account: ``device.removed``, then the device goes with its
    codes (they cannot be on a lock pinwarden no longer reaches)."""
    record_event(session, "device.removed", now, workspace_id=device.workspace_id, device=device)
    session.delete(device)


def sync_account(
    session: Session,
    account: ConnectedAccount,
    found: list[DiscoveredLock],
    now: datetime,
    announce: bool = True,
) -> list[Device]:
    """Bring the account's devices in line with what its driver found; returns the
    devices added. ``announce`` False adds them without ``device.added`` (a sandbox
    workspace is created with its locks)."""
    account.discovery_seq += 1
    known = {
        d.address: d
        for d in session.scalars(
            select(Device)
            .where(Device.connected_account_id == account.connected_account_id)
            .order_by(Device.device_id)
            .with_for_update()
        )
    }
    added: list[Device] = []
    for lock in found:
        device = known.pop(lock.address, None)
        capabilities = lock.capabilities.to_json()
        if device is None:
            device = Device(
                device_id=str(uuid.uuid4()),
                workspace_id=account.workspace_id,
                connected_account_id=account.connected_account_id,
                driver=account.driver,
                address=lock.address,
                capabilities=capabilities,
                battery_level=lock.battery_level,
                name=lock.name,
                custom_metadata={},
                time_zone=lock.time_zone,
                online=True,
                locked=True,
                errors=[],
                created_at=now,
                next_reconcile_at=now,
                wake_seq=0,
                failure_count=0,
            )
            session.add(device)
            added.append(device)
            continue
        if lock.battery_level is not None:
            device.battery_level = lock.battery_level
        # Compared typed: stored JSON has lists where the dataclass has tuples.
        if device.caps != lock.capabilities:
            device.capabilities = capabilities
            # Slot count, PIN rules or scheduling may differ now: plan again.
            request_reconcile(session, device.device_id, now)
    session.flush()
    if announce:
        for device in added:
            record_event(
                session, "device.added", now, workspace_id=device.workspace_id, device=device
            )
    for device in known.values():
        remove_device(session, device, now)
    return added


class Discovery:
    """Runs every connected account's discovery through its driver."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        drivers: Mapping[str, Driver],
        wake_worker: Callable[[], None],
    ) -> None:
        self._db = db
        self._clock = clock
        self._drivers = drivers
        self._wake_worker = wake_worker

    def _accounts(self, only: str | None = None) -> list[tuple[str, str, dict[str, object], int]]:
        with self._db.read() as session:
            stmt = (
                select(
                    ConnectedAccount.connected_account_id,
                    ConnectedAccount.driver,
                    ConnectedAccount.config,
                    ConnectedAccount.discovery_seq,
                )
                .where(ConnectedAccount.disconnected_at.is_(None))
                .order_by(ConnectedAccount.connected_account_id)
            )
            if only is not None:
                stmt = stmt.where(ConnectedAccount.connected_account_id == only)
            rows = session.execute(stmt).all()
        return [(r.connected_account_id, r.driver, dict(r.config), r.discovery_seq) for r in rows]

    async def _discover(
        self, account_id: str, driver_name: str, config: dict[str, object], seen: int
    ) -> int:
        driver = self._drivers.get(driver_name)
        if driver is None:
            raise DeviceUnavailable(f"unknown driver {driver_name!r}")
        found = await driver.discover(AccountRef(account_id, config))
        return await asyncio.to_thread(self._record, account_id, seen, found)

    async def run_once(self) -> int:
        """Discover every (connected) account once; returns how many devices were added.
        An account whose driver cannot be asked keeps its devices until the next round."""
        added = 0
        for account in await asyncio.to_thread(self._accounts):
            try:
                added += await self._discover(*account)
            except DeviceUnavailable as exc:
                log.warning("discovery of account %s failed: %s", account[0], exc)
            except Exception:
                # One account's failure must not keep the others from being discovered.
                log.exception("discovery of account %s failed", account[0])
        # New devices are due at once, changed ones are woken: let the worker look.
        self._wake_worker()
        return added

    async def discover_account(self, account_id: str) -> int:
        """Discover one account now; returns how many devices were added. Raises
        :class:`DeviceUnavailable` when its driver cannot ask it (or it is gone)."""
        accounts = await asyncio.to_thread(self._accounts, account_id)
        if not accounts:
            raise DeviceUnavailable(f"no connected account {account_id}")
        added = await self._discover(*accounts[0])
        self._wake_worker()
        return added

    def _record(self, account_id: str, seen: int, found: list[DiscoveredLock]) -> int:
        """Apply one account's discovery, unless the account went or was brought in line
        by someone else since ``seen`` (then this round's view may be stale; the next
        round looks again)."""
        with self._db.write() as session:
            # FOR NO KEY UPDATE: serialized with other syncs and the account's deletion, but
            # not with the key-share locks its devices' writes take on it.
            account = session.get(ConnectedAccount, account_id, with_for_update={"key_share": True})
            if account is None or account.discovery_seq != seen:
                return 0
            claimed = session.scalar(
                select(Device.connected_account_id).where(
                    Device.driver == account.driver,
                    Device.address.in_([lock.address for lock in found]),
                    Device.connected_account_id != account_id,
                )
            )
            if claimed is not None:
                raise DeviceUnavailable(
                    f"these locks are already connected through account {claimed}"
                )
            return len(sync_account(session, account, found, self._clock.now()))
