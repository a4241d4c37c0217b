"""``/locks/lock_door`` and ``/locks/unlock_door`` (spec R54, R190).

A request only queues the command: it writes a pending action attempt for the device and
makes the device due. The device's next reconcile, which alone talks to the lock, carries
it out and finishes the attempt (:mod:`pinwarden.engine.doors`); the SDK waits for that
by polling ``/action_attempts/get``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError
from pinwarden.api.lookup import device_in_workspace, new_action_attempt
from pinwarden.api.params import Id
from pinwarden.api.wire import Endpoint, Params
from pinwarden.engine.doors import DOOR_ACTIONS
from pinwarden.store.notify import request_reconcile
from pinwarden.store.tables import Device
from pinwarden.store.views import action_attempt_view


class DoorParams(Params):
    device_id: Id
    # Listed by Seam's OpenAPI as internal; accepted and ignored: the attempt always
    # finishes in the engine.
    sync: bool | None = None


def _queue(ctx: RequestContext, device_id: str, action_type: str) -> dict[str, Any]:
    """Queue ``action_type`` on the device and answer with its pending attempt."""
    locking = DOOR_ACTIONS[action_type]
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, device_id, for_update=True)
        caps = device.caps
        if not (caps.can_lock if locking else caps.can_unlock):
            # Seam documents no type for this; named after the capability flag it breaks.
            verb, flag = (
                ("lock", "can_remotely_lock") if locking else ("unlock", "can_remotely_unlock")
            )
            raise SeamError(
                400,
                f"remote_{verb}_not_supported",
                f"This device cannot be {verb}ed remotely ({flag} is false)",
                data={"device_id": device_id},
            )
        request_reconcile(session, device.device_id, now)
        # The device row is locked, so the bumped wake_seq is this request's place in
        # the device's queue of door commands.
        place = session.scalar(select(Device.wake_seq).where(Device.device_id == device_id))
        attempt = new_action_attempt(
            session,
            ctx.workspace_id,
            action_type,
            now,
            device_id=device.device_id,
            revision=place,
        )
        session.flush()
        view = action_attempt_view(attempt)
    ctx.services.wake_worker()
    return {"action_attempt": view}


def lock_door(ctx: RequestContext, params: DoorParams) -> dict[str, Any]:
    """POST /locks/lock_door: ``{action_attempt: LOCK_DOOR, pending}``."""
    return _queue(ctx, params.device_id, "LOCK_DOOR")


def unlock_door(ctx: RequestContext, params: DoorParams) -> dict[str, Any]:
    """POST /locks/unlock_door: ``{action_attempt: UNLOCK_DOOR, pending}``."""
    return _queue(ctx, params.device_id, "UNLOCK_DOOR")


ENDPOINTS = [
    Endpoint("/locks/lock_door", ("POST",), DoorParams, lock_door),
    Endpoint("/locks/unlock_door", ("POST",), DoorParams, unlock_door),
]
