"""Sandbox simulations of what people do at a lock: keypad entry (R120), and pinwarden's
own change-at-the-lock simulation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input
from pinwarden.api.lookup import (
    access_code_in_workspace,
    new_action_attempt,
    request_reconcile,
    simulated_device,
)
from pinwarden.api.params import Id, KeypadEntry, Pin
from pinwarden.api.wire import Endpoint, Params
from pinwarden.devices.simulated import edit_at_keypad, keypad_accepts, keypad_accepts_offline
from pinwarden.store.events import record_event
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode
from pinwarden.store.views import action_attempt_view


class ChangeAtLockParams(Params):
    access_code_id: Id
    code: Pin | None = None
    remove: bool = False


def change_at_lock(ctx: RequestContext, params: ChangeAtLockParams) -> dict[str, Any]:
    """pinwarden extension: edit (``code``) or delete (``remove``) a code at the keypad of a
    sandbox lock, behind pinwarden's back; the next drift check notices (R145)."""
    if (params.code is None) == (not params.remove):
        raise invalid_input("Provide either a new code or remove: true", "code")
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        row = access_code_in_workspace(session, ctx.workspace_id, params.access_code_id)
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, row.device_id)
        if row.slot is None or not row.was_on_device:
            raise invalid_input("The code is not on the lock", "access_code_id")
        edit_at_keypad(session, device.device_id, row.slot, params.code, now)
    return {}


class KeypadParams(Params):
    device_id: Id
    code: KeypadEntry


class ManualLockParams(Params):
    device_id: Id


def _finished(
    session: Session, ctx: RequestContext, device: Device, action_type: str
) -> dict[str, Any]:
    """A simulation is over as soon as it is recorded: its action attempt succeeds at once."""
    attempt = new_action_attempt(
        session,
        ctx.workspace_id,
        action_type,
        ctx.services.clock.now(),
        device_id=device.device_id,
        status="success",
        result={},
    )
    session.flush()
    return {"action_attempt": action_attempt_view(attempt)}


def _unlocked_by(
    session: Session, device: Device, code: str, now: datetime
) -> tuple[AccessCode | None, str | None] | None:
    """Who the lock lets in with ``code``: (managed code, unmanaged code id), or None."""
    slot = keypad_accepts(session, device.device_id, code, now)
    if slot is not None:
        managed = session.scalar(
            select(AccessCode).where(
                AccessCode.device_id == device.device_id,
                AccessCode.slot == slot,
                AccessCode.code == code,
            )
        )
        foreign = session.scalar(
            select(UnmanagedAccessCode.access_code_id).where(
                UnmanagedAccessCode.device_id == device.device_id,
                UnmanagedAccessCode.slot == slot,
            )
        )
        return managed, foreign
    if keypad_accepts_offline(device, code, now):
        offline = session.scalar(
            select(AccessCode).where(
                AccessCode.device_id == device.device_id,
                AccessCode.code == code,
                AccessCode.is_offline_access_code.is_(True),
            )
        )
        return offline, None
    return None


def keypad_code_entry(ctx: RequestContext, params: KeypadParams) -> dict[str, Any]:
    """POST /locks/simulate/keypad_code_entry: a PIN the lock holds (in its window), or an
    offline PIN it can read, unlocks it with ``lock.unlocked``; any other PIN gives
    ``lock.access_denied`` (R120)."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, params.device_id)
        entry = _unlocked_by(session, device, params.code, now)
        if entry is None:
            record_event(
                session, "lock.access_denied", now, workspace_id=ctx.workspace_id, device=device
            )
        else:
            managed, foreign = entry
            device.locked = False
            extra: dict[str, Any] = {
                "method": "keycode",
                "access_code_is_managed": managed is not None,
            }
            if managed is not None:
                extra["access_code_id"] = managed.access_code_id
                if managed.is_one_time_use and managed.used_at is None:
                    # Used once: it goes (T20); an online one leaves the lock first.
                    managed.used_at = now
                    managed.revision += 1
                    if not managed.is_offline_access_code:
                        managed.status, managed.pending_since = "removing", None
                    request_reconcile(session, device.device_id, now)
            elif foreign is not None:
                extra["access_code_id"] = foreign
            record_event(
                session, "lock.unlocked", now, workspace_id=ctx.workspace_id, device=device, **extra
            )
        result = _finished(session, ctx, device, "SIMULATE_KEYPAD_CODE_ENTRY")
    ctx.services.wake_worker()
    return result


def manual_lock_via_keypad(ctx: RequestContext, params: ManualLockParams) -> dict[str, Any]:
    """POST /locks/simulate/manual_lock_via_keypad: the lock is locked at the keypad."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, params.device_id)
        device.locked = True
        record_event(
            session,
            "lock.locked",
            now,
            workspace_id=ctx.workspace_id,
            device=device,
            method="keycode",
        )
        return _finished(session, ctx, device, "SIMULATE_MANUAL_LOCK_VIA_KEYPAD")


ENDPOINTS = [
    Endpoint("/locks/simulate/keypad_code_entry", ("POST",), KeypadParams, keypad_code_entry),
    Endpoint(
        "/locks/simulate/manual_lock_via_keypad",
        ("POST",),
        ManualLockParams,
        manual_lock_via_keypad,
    ),
    Endpoint(
        "/access_codes/simulate/change_at_lock", ("POST",), ChangeAtLockParams, change_at_lock
    ),
]
