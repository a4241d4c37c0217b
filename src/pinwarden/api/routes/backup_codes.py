"""``/access_codes/pull_backup_access_code``: hand out a spare PIN from the device's backup
pool for a time-bound code that does not work (spec §3.9, §7.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError, invalid_input
from pinwarden.api.lookup import locked_access_code
from pinwarden.api.new_codes import code_view
from pinwarden.api.params import Id
from pinwarden.api.wire import Endpoint, Params
from pinwarden.domain.windows import code_type
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.tables import AccessCode
from pinwarden.timeutil import iso


class PullParams(Params):
    access_code_id: Id


def pull(ctx: RequestContext, params: PullParams) -> dict[str, Any]:
    """POST /access_codes/pull_backup_access_code (R102–R105): the first pull takes a ready
    pool member and gives it the original's end; later pulls return that same member."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        original, device = locked_access_code(session, ctx.workspace_id, params.access_code_id)
        if original.is_backup:
            raise invalid_input("A backup code cannot have a backup", "access_code_id")
        if code_type(original.starts_at, original.ends_at) != "time_bound":
            raise SeamError(
                400,
                "access_code_not_time_bound",
                "Backup codes can only be pulled for time-bound access codes",
            )
        backup = None
        if original.pulled_backup_access_code_id is not None:
            backup = session.get(AccessCode, original.pulled_backup_access_code_id)
        if backup is None:
            if not device.backup_pool_enabled:
                raise invalid_input(
                    "The device's backup access code pool is not enabled "
                    "(use_backup_access_code_pool)",
                    "access_code_id",
                )
            backup = session.scalars(
                select(AccessCode)
                .where(
                    AccessCode.device_id == device.device_id,
                    AccessCode.is_backup.is_(True),
                    AccessCode.ends_at.is_(None),
                    AccessCode.deleted_at.is_(None),
                    AccessCode.status == "set",
                )
                .order_by(AccessCode.created_at, AccessCode.access_code_id)
            ).first()
            if backup is None:
                raise invalid_input(
                    "The device's backup access code pool is empty (empty_backup_access_code_pool)",
                    "access_code_id",
                )
            # It works from now until the original would have ended, then leaves the lock;
            # a recurring original's backup keeps to its occurrences.
            backup.starts_at, backup.ends_at = now, original.ends_at
            backup.recurrence = original.recurrence
            backup.revision += 1
            original.pulled_backup_access_code_id = backup.access_code_id
            original.warnings = [
                *original.warnings,
                {
                    "warning_code": "using_backup_access_code",
                    "message": "A backup access code was pulled for this code",
                    "created_at": iso(now),
                },
            ]
            record_event(
                session,
                "access_code.backup_access_code_pulled",
                now,
                workspace_id=ctx.workspace_id,
                device=device,
                access_code=original,
                backup_access_code_id=backup.access_code_id,
            )
            request_reconcile(session, device.device_id, now)
        session.flush()
        view = code_view(backup, device, now)
    ctx.services.wake_worker()
    return {"access_code": view, "backup_access_code": view}


ENDPOINTS = [
    Endpoint("/access_codes/pull_backup_access_code", ("POST",), PullParams, pull),
]
