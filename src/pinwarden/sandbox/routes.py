"""The sandbox's simulate routes: what people (and the weather) do to a simulated lock.

Each route only changes the simulated lock; the lock reports what a real one would
(keypad unlock by slot, online/offline, slot changed), and the engine turns those
reports into devices' state and Seam events, as for any driver. Sandbox workspaces only.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError, invalid_input, not_found
from pinwarden.api.lookup import (
    access_code_in_workspace,
    device_in_workspace,
    new_action_attempt,
    require_sandbox,
)
from pinwarden.api.params import Id, KeypadEntry, Pin, SimulatedPin, Text
from pinwarden.api.routes.connected_accounts import account_in_workspace
from pinwarden.api.wire import Endpoint, NoParams, Params
from pinwarden.domain.issues import error, without_errors
from pinwarden.engine.discovery import sync_account
from pinwarden.engine.unmanaged import add_unmanaged
from pinwarden.sandbox.driver import DRIVER_NAME, SandboxDriver, locks_of
from pinwarden.sandbox.lock import (
    edit_at_keypad,
    enter_pin,
    occupied_slots,
    report,
)
from pinwarden.sandbox.seed import reset_sandbox
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode, Workspace
from pinwarden.store.views import (
    ACCOUNT_DISCONNECTED,
    action_attempt_view,
    unmanaged_access_code_view,
)


class DeviceParams(Params):
    device_id: Id


class AccountParams(Params):
    connected_account_id: Id


class FaultParams(Params):
    device_id: Id
    latency_ms: int | None = Field(default=None, ge=0, le=600_000)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    reject_rate: float | None = Field(default=None, ge=0, le=1)
    drop_after_ack: bool | None = None
    mask_pins: bool | None = None


class KeypadParams(Params):
    device_id: Id
    code: KeypadEntry


class ChangeAtLockParams(Params):
    access_code_id: Id
    code: Pin | None = None
    remove: bool = False


class UnmanagedParams(Params):
    device_id: Id
    name: Text
    code: SimulatedPin


FAULTS = ("latency_ms", "failure_rate", "reject_rate", "drop_after_ack", "mask_pins")


def _lock(session: Session, ctx: RequestContext, device_id: str) -> tuple[Device, SandboxLock]:
    """A sandbox workspace's simulated lock, locked for update, with its device."""
    require_sandbox(ctx.is_sandbox)
    device = device_in_workspace(session, ctx.workspace_id, device_id, for_update=True)
    lock = (
        session.get(SandboxLock, device.address, with_for_update=True)
        if device.driver == DRIVER_NAME
        else None
    )
    if lock is None:
        raise invalid_input("Only simulated locks can be simulated", "device_id")
    return device, lock


def _finished(session: Session, ctx: RequestContext, device: Device, action: str) -> dict[str, Any]:
    """A simulation is over as soon as the lock has it: its action attempt succeeds at once."""
    attempt = new_action_attempt(
        session,
        ctx.workspace_id,
        action,
        ctx.services.clock.now(),
        device_id=device.device_id,
        status="success",
        result={},
    )
    session.flush()
    return {"action_attempt": action_attempt_view(attempt)}


class SandboxRoutes:
    """The simulate endpoints, telling ``driver`` when a lock has something to report."""

    def __init__(self, driver: SandboxDriver) -> None:
        self._driver = driver

    def endpoints(self) -> list[Endpoint]:
        """Every sandbox route."""
        return [
            Endpoint("/devices/simulate/connect", ("POST",), DeviceParams, self.connect),
            Endpoint("/devices/simulate/disconnect", ("POST",), DeviceParams, self.disconnect),
            Endpoint("/devices/simulate/remove", ("POST",), DeviceParams, self.remove),
            Endpoint(
                "/devices/simulate/connect_to_hub", ("POST",), DeviceParams, self.connect_to_hub
            ),
            Endpoint(
                "/devices/simulate/disconnect_from_hub",
                ("POST",),
                DeviceParams,
                self.disconnect_from_hub,
            ),
            Endpoint("/devices/simulate/faults", ("POST",), FaultParams, self.faults),
            Endpoint(
                "/connected_accounts/simulate/disconnect",
                ("POST",),
                AccountParams,
                self.account_disconnect,
            ),
            Endpoint(
                "/connected_accounts/simulate/connect",
                ("POST",),
                AccountParams,
                self.account_connect,
            ),
            Endpoint(
                "/locks/simulate/keypad_code_entry", ("POST",), KeypadParams, self.keypad_code_entry
            ),
            Endpoint(
                "/locks/simulate/manual_lock_via_keypad",
                ("POST",),
                DeviceParams,
                self.manual_lock_via_keypad,
            ),
            Endpoint(
                "/access_codes/simulate/change_at_lock",
                ("POST",),
                ChangeAtLockParams,
                self.change_at_lock,
            ),
            Endpoint(
                "/access_codes/simulate/create_unmanaged_access_code",
                ("POST",),
                UnmanagedParams,
                self.create_unmanaged,
            ),
            Endpoint("/workspaces/reset_sandbox", ("POST",), NoParams, self.reset),
        ]

    def _set_online(self, ctx: RequestContext, device_id: str, online: bool) -> dict[str, Any]:
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            _device, lock = _lock(session, ctx, device_id)
            if lock.online == online:
                return {}
            lock.online = online
            report(
                session,
                lock.lock_id,
                "Connectivity",
                now,
                online=online,
            )
        self._driver.lock_reported()
        return {}

    def connect(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /devices/simulate/connect: the lock comes back online; pending work resumes."""
        return self._set_online(ctx, params.device_id, True)

    def disconnect(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /devices/simulate/disconnect: the lock goes offline (R119)."""
        return self._set_online(ctx, params.device_id, False)

    def _set_hub(self, ctx: RequestContext, device_id: str, connected: bool) -> dict[str, Any]:
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            device, lock = _lock(session, ctx, device_id)
            if not device.caps.has_hub:
                raise invalid_input("This lock has no hub to connect or disconnect", "device_id")
            faults = dict(lock.faults or {})
            if bool(faults.get("hub_disconnected")) == (not connected):
                return {}
            faults["hub_disconnected"] = not connected
            lock.faults = faults
            report(
                session,
                lock.lock_id,
                "Connectivity",
                now,
                online=connected,
                error_code="hub_disconnected",
            )
        self._driver.lock_reported()
        return {}

    def connect_to_hub(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /devices/simulate/connect_to_hub: the lock's hub is back (R119)."""
        return self._set_hub(ctx, params.device_id, True)

    def disconnect_from_hub(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /devices/simulate/disconnect_from_hub: the lock is cut off behind its hub."""
        return self._set_hub(ctx, params.device_id, False)

    def faults(self, ctx: RequestContext, params: FaultParams) -> dict[str, Any]:
        """pinwarden extension: make a sandbox lock slow, flaky, refusing, forgetful or
        PIN-hiding. Only the settings sent change; ``null`` restores the default."""
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            device, lock = _lock(session, ctx, params.device_id)
            faults = dict(lock.faults or {})
            for name in FAULTS:
                if params.given(name):
                    value = getattr(params, name)
                    if value is None:
                        faults.pop(name, None)
                    else:
                        faults[name] = value
            lock.faults = faults
            # The simulation's settings changed, not the lock: look at it under them.
            request_reconcile(session, device.device_id, now)
            view = {k: v for k, v in faults.items() if k != "hub_disconnected"}
        ctx.services.wake_worker()
        return {"device_faults": {"device_id": params.device_id, **view}}

    def remove(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /devices/simulate/remove: the lock leaves its account; the account's
        discovery, run at once, removes the device with its codes."""
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            require_sandbox(ctx.is_sandbox)
            owner = device_in_workspace(session, ctx.workspace_id, params.device_id)
            # The account first, then its device: the order discovery locks them in.
            account = account_in_workspace(session, ctx.workspace_id, owner.connected_account_id)
            session.refresh(account, with_for_update={"key_share": True})
            _device, lock = _lock(session, ctx, params.device_id)
            session.delete(lock)
            session.flush()
            sync_account(session, account, locks_of(session, account.connected_account_id), now)
        return {}

    def _set_account(self, ctx: RequestContext, account_id: str, connected: bool) -> dict[str, Any]:
        """While an account is disconnected its locks are not contacted, show
        ``account_disconnected``, and their codes read ``unknown`` (T18); once it is back,
        each lock is read again and the codes' statuses follow (T19)."""
        require_sandbox(ctx.is_sandbox)
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            account = account_in_workspace(session, ctx.workspace_id, account_id)
            if (account.disconnected_at is None) == connected:
                return {}
            account.disconnected_at = None if connected else now
            devices = session.scalars(
                select(Device)
                .where(Device.connected_account_id == account_id)
                .order_by(Device.device_id)
                .with_for_update()
            ).all()
            for device in devices:
                others = without_errors(device.errors, {ACCOUNT_DISCONNECTED})
                device.errors = (
                    others
                    if connected
                    else [
                        *others,
                        error(
                            ACCOUNT_DISCONNECTED,
                            "The account the lock is connected through is disconnected",
                            now,
                            is_connected_account_error=True,
                        ),
                    ]
                )
                request_reconcile(session, device.device_id, now)
            record_event(
                session,
                "connected_account.connected" if connected else "connected_account.disconnected",
                now,
                workspace_id=ctx.workspace_id,
                connected_account_id=account_id,
            )
        ctx.services.wake_worker()
        return {}

    def account_disconnect(self, ctx: RequestContext, params: AccountParams) -> dict[str, Any]:
        """pinwarden extension, sandbox only: the vendor account stops answering."""
        return self._set_account(ctx, params.connected_account_id, connected=False)

    def account_connect(self, ctx: RequestContext, params: AccountParams) -> dict[str, Any]:
        """pinwarden extension, sandbox only: the vendor account is reconnected."""
        return self._set_account(ctx, params.connected_account_id, connected=True)

    def keypad_code_entry(self, ctx: RequestContext, params: KeypadParams) -> dict[str, Any]:
        """POST /locks/simulate/keypad_code_entry: a PIN the lock holds (in its window), or
        an offline PIN it can read, unlocks it; the lock reports which slot opened it (or
        the offline PIN), or that it refused the PIN (R120)."""
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            device, lock = _lock(session, ctx, params.device_id)
            offline = device.caps.can_program_offline_access_codes
            enter_pin(
                session, lock, params.code, now, device.offline_code_secret if offline else None
            )
            result = _finished(session, ctx, device, "SIMULATE_KEYPAD_CODE_ENTRY")
        self._driver.lock_reported()
        return result

    def manual_lock_via_keypad(self, ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
        """POST /locks/simulate/manual_lock_via_keypad: the lock is locked at the keypad."""
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            device, lock = _lock(session, ctx, params.device_id)
            report(session, lock.lock_id, "ManualLockChange", now, locked=True, method="keycode")
            result = _finished(session, ctx, device, "SIMULATE_MANUAL_LOCK_VIA_KEYPAD")
        self._driver.lock_reported()
        return result

    def change_at_lock(self, ctx: RequestContext, params: ChangeAtLockParams) -> dict[str, Any]:
        """pinwarden extension: edit (``code``) or delete (``remove``) a code at the keypad
        of a sandbox lock, behind pinwarden's back: this lock says nothing, so the next
        drift check notices (R145)."""
        if (params.code is None) == (not params.remove):
            raise invalid_input("Provide either a new code or remove: true", "code")
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            row = access_code_in_workspace(session, ctx.workspace_id, params.access_code_id)
            _device, lock = _lock(session, ctx, row.device_id)
            if row.slot is None or not row.was_on_device:
                raise invalid_input("The code is not on the lock", "access_code_id")
            edit_at_keypad(session, lock.lock_id, row.slot, params.code, now, tell=False)
        return {}

    def create_unmanaged(self, ctx: RequestContext, params: UnmanagedParams) -> dict[str, Any]:
        """POST /access_codes/simulate/create_unmanaged_access_code (R113): someone programs
        a PIN at a sandbox lock's keypad, in its highest free slot; the lock reports the
        slot changed."""
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            device, lock = _lock(session, ctx, params.device_id)
            caps = device.caps
            if not caps.lists_unmanaged_codes:
                raise invalid_input(
                    f"{caps.manufacturer} locks do not support unmanaged access codes",
                    "device_id",
                )
            held = occupied_slots(session, lock.lock_id, now)
            if params.code in held.values():
                raise SeamError(
                    409,
                    "duplicate_access_code",
                    "The lock already holds this code",
                    data={"device_id": device.device_id},
                )
            reserved = (
                set(held)
                | set(
                    session.scalars(
                        select(AccessCode.slot).where(
                            AccessCode.device_id == device.device_id, AccessCode.slot.is_not(None)
                        )
                    )
                )
                | set(
                    session.scalars(
                        select(UnmanagedAccessCode.slot).where(
                            UnmanagedAccessCode.device_id == device.device_id
                        )
                    )
                )
            )
            free = [n for n in range(caps.slot_count, 0, -1) if n not in reserved]
            if not free:
                raise invalid_input("The lock has no free slot", "device_id")
            edit_at_keypad(session, lock.lock_id, free[0], params.code, now, name=params.name)
            row = add_unmanaged(session, device, now, free[0], params.code, params.name)
            # The record was written here, so a pass already running is out of step.
            request_reconcile(session, device.device_id, now)
            session.flush()
            result = {"access_code": unmanaged_access_code_view(row, caps)}
        self._driver.lock_reported()
        ctx.services.wake_worker()
        return result

    def reset(self, ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
        """POST /workspaces/reset_sandbox: restore the seeded locks and forget codes,
        events and attempts (sandbox only)."""
        if not ctx.is_sandbox:
            raise invalid_input("Only sandbox workspaces can be reset")
        now = ctx.services.clock.now()
        with ctx.services.db.write() as session:
            workspace = session.get(Workspace, ctx.workspace_id)
            if workspace is None:
                raise not_found("workspace", workspace_id=ctx.workspace_id)
            reset_sandbox(session, workspace, now)
            attempt = new_action_attempt(
                session,
                ctx.workspace_id,
                "RESET_SANDBOX_WORKSPACE",
                now,
                status="success",
                result={},
            )
            session.flush()
            view = action_attempt_view(attempt)
        ctx.services.wake_worker()
        return {"action_attempt": view}
