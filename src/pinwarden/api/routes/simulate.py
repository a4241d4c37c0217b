"""pinwarden's sandbox-only simulations of what people do at a lock."""

from __future__ import annotations

from typing import Any

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input
from pinwarden.api.lookup import access_code_in_workspace, device_in_workspace
from pinwarden.api.params import Id, Pin
from pinwarden.api.wire import Endpoint, Params
from pinwarden.devices.simulated import edit_at_keypad


class ChangeAtLockParams(Params):
    access_code_id: Id
    code: Pin | None = None
    remove: bool = False


def change_at_lock(ctx: RequestContext, params: ChangeAtLockParams) -> dict[str, Any]:
    """pinwarden extension: edit (``code``) or delete (``remove``) a code at the keypad of a
    sandbox lock, behind pinwarden's back; the next drift check notices (R145)."""
    if not ctx.is_sandbox:
        raise invalid_input("Simulations are only available in sandbox workspaces")
    if (params.code is None) == (not params.remove):
        raise invalid_input("Provide either a new code or remove: true", "code")
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        row = access_code_in_workspace(session, ctx.workspace_id, params.access_code_id)
        device = device_in_workspace(session, ctx.workspace_id, row.device_id, for_update=True)
        if device.driver != "simulated":
            raise invalid_input("Only simulated locks can be simulated", "access_code_id")
        if row.slot is None or not row.was_on_device:
            raise invalid_input("The code is not on the lock", "access_code_id")
        edit_at_keypad(session, device.device_id, row.slot, params.code, now)
    return {}


ENDPOINTS = [
    Endpoint(
        "/access_codes/simulate/change_at_lock", ("POST",), ChangeAtLockParams, change_at_lock
    ),
]
