"""``/access_codes/unmanaged/*`` (spec §3.11, §7.8): PINs on a lock that pinwarden did not
put there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.checks import (
    check_duplicate,
    check_lookup,
    external_modification_flag,
    live_codes,
)
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError, invalid_input, not_found
from pinwarden.api.lookup import (
    DELETE_REPLAY_WINDOW,
    device_in_workspace,
    earlier_delete,
    locked_unmanaged,
    new_action_attempt,
    unmanaged_in_workspace,
)
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, ShortText
from pinwarden.api.routes.access_codes import GetParams
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.sealed import matches
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode
from pinwarden.store.views import action_attempt_view, unmanaged_access_code_view


class ListParams(Params):
    device_id: Id
    user_identifier_key: ShortText | None = None
    limit: Limit = 300_000
    page_cursor: str | None = None


class ConvertParams(Params):
    access_code_id: Id
    allow_external_modification: bool | None = None
    is_external_modification_allowed: bool | None = None
    force: bool | None = None
    sync: bool | None = None


class UpdateParams(ConvertParams):
    is_managed: bool


class DeleteParams(Params):
    access_code_id: Id
    sync: bool | None = None


def _view(session: Session, row: UnmanagedAccessCode) -> dict[str, Any]:
    device = session.get(Device, row.device_id)
    assert device is not None  # the row is deleted with its device
    return unmanaged_access_code_view(row, device.caps)


def list_unmanaged(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /access_codes/unmanaged/list (R108)."""
    with ctx.services.db.read() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id)
        stmt = select(UnmanagedAccessCode).where(UnmanagedAccessCode.device_id == device.device_id)
        if params.user_identifier_key is not None:
            # pinwarden has no user identities: nothing matches.
            stmt = stmt.where(UnmanagedAccessCode.access_code_id.is_(None))
        rows, pagination = paginate(
            session,
            stmt,
            UnmanagedAccessCode.created_at,
            UnmanagedAccessCode.access_code_id,
            params,
            ctx.url,
        )
        model = device.caps
        codes = [unmanaged_access_code_view(r, model) for r in rows]
    return {"access_codes": codes, "pagination": pagination}


def get_unmanaged(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /access_codes/unmanaged/get by id, or by device and PIN (R109)."""
    check_lookup(params.access_code_id, params.device_id, params.code)
    with ctx.services.db.read() as session:
        if params.access_code_id is not None:
            row = unmanaged_in_workspace(
                session, ctx.workspace_id, params.access_code_id, params.device_id
            )
        else:
            assert params.code is not None
            device_in_workspace(session, ctx.workspace_id, params.device_id or "")
            found = session.scalars(
                select(UnmanagedAccessCode).where(
                    UnmanagedAccessCode.device_id == params.device_id,
                    matches(UnmanagedAccessCode.code_digest, params.code),
                )
            ).first()
            if found is None:
                raise not_found("access_code", device_id=params.device_id, code=params.code)
            row = found
        return {"access_code": _view(session, row)}


def convert_to_managed(ctx: RequestContext, params: ConvertParams) -> dict[str, Any]:
    """PATCH/POST /access_codes/unmanaged/convert_to_managed (R110, R189): the code keeps
    its id and its slot, and from now on follows the managed lifecycle."""
    external = external_modification_flag(
        params.allow_external_modification, params.is_external_modification_allowed
    )
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        row, device = locked_unmanaged(session, ctx.workspace_id, params.access_code_id)
        model = device.caps
        if not model.can_convert_unmanaged_codes:
            raise invalid_input(
                f"Unmanaged access codes on {model.manufacturer} locks cannot be converted",
                "access_code_id",
            )
        if row.delete_requested_at is not None:
            raise invalid_input("The access code is being deleted", "access_code_id")
        if row.code is None:
            raise invalid_input(
                "The lock hides this PIN, so pinwarden cannot manage it", "access_code_id"
            )
        window = (row.starts_at, row.ends_at)
        check_duplicate(live_codes(session, device.device_id), row.code, window)
        if session.scalar(
            select(AccessCode.access_code_id).where(
                AccessCode.device_id == device.device_id, AccessCode.slot == row.slot
            )
        ):
            # The record is older than the lock's last read: a managed code took the slot.
            raise invalid_input("The access code is no longer on the lock", "access_code_id")
        before_start = row.starts_at is not None and now < row.starts_at
        code = AccessCode(
            access_code_id=row.access_code_id,
            workspace_id=row.workspace_id,
            device_id=row.device_id,
            name=row.name,
            code=row.code,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status="unset" if before_start else "set",
            created_at=now,
            is_external_modification_allowed=bool(external),
            prefer_native_scheduling=True,
            is_one_time_use=False,
            is_offline_access_code=False,
            errors=[],
            warnings=[],
            revision=1,
            slot=row.slot,
            slot_code=row.code,
            was_on_device=True,
            is_scheduled_on_device=row.starts_at is not None,
        )
        session.delete(row)
        session.flush()
        session.add(code)
        record_event(
            session,
            "access_code.unmanaged.converted_to_managed",
            now,
            workspace_id=ctx.workspace_id,
            device=device,
            access_code=code,
        )
        request_reconcile(session, device.device_id, now)
    ctx.services.wake_worker()
    return {}


def update_unmanaged(ctx: RequestContext, params: UpdateParams) -> dict[str, Any]:
    """PATCH/POST /access_codes/unmanaged/update: ``is_managed: true`` converts (R111)."""
    if not params.is_managed:
        raise invalid_input(
            "An unmanaged code is already unmanaged; use /access_codes/update with "
            "is_managed: false to release a managed one",
            "is_managed",
        )
    return convert_to_managed(ctx, params)


def delete_unmanaged(ctx: RequestContext, params: DeleteParams) -> dict[str, Any]:
    """DELETE/POST /access_codes/unmanaged/delete (R112): the reconciler clears the slot,
    then emits ``access_code.unmanaged.removed``. A replay answers the first attempt."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        since = now - DELETE_REPLAY_WINDOW
        try:
            row, device = locked_unmanaged(session, ctx.workspace_id, params.access_code_id)
        except SeamError:
            earlier = earlier_delete(session, ctx.workspace_id, params.access_code_id, since)
            if earlier is None:
                raise
            return {"action_attempt": action_attempt_view(earlier)}
        if row.delete_requested_at is not None:
            earlier = earlier_delete(session, ctx.workspace_id, params.access_code_id, since)
            if earlier is not None:
                return {"action_attempt": action_attempt_view(earlier)}
        ctx.services.rate_limits.check(session, "delete", device.device_id)
        row.delete_requested_at = now
        attempt = new_action_attempt(
            session,
            ctx.workspace_id,
            "DELETE_ACCESS_CODE",
            now,
            device_id=device.device_id,
            access_code_id=row.access_code_id,
        )
        request_reconcile(session, device.device_id, now)
        session.flush()
        result = {"action_attempt": action_attempt_view(attempt)}
    ctx.services.wake_worker()
    return result


ENDPOINTS = [
    Endpoint(
        "/access_codes/unmanaged/list", ("GET", "POST"), ListParams, list_unmanaged, read_only=True
    ),
    Endpoint(
        "/access_codes/unmanaged/get", ("GET", "POST"), GetParams, get_unmanaged, read_only=True
    ),
    Endpoint(
        "/access_codes/unmanaged/convert_to_managed",
        ("PATCH", "POST"),
        ConvertParams,
        convert_to_managed,
    ),
    Endpoint("/access_codes/unmanaged/update", ("PATCH", "POST"), UpdateParams, update_unmanaged),
    Endpoint("/access_codes/unmanaged/delete", ("DELETE", "POST"), DeleteParams, delete_unmanaged),
]
