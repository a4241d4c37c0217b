"""``/access_codes/*``: create, get, list, update, delete, generate_code (spec §3.1–§3.8)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, String, bindparam, or_, select
from sqlalchemy.orm import Session

from pinwarden.api.checks import (
    check_duplicate,
    check_lookup,
    check_name,
    check_pin,
    external_modification_flag,
    live_codes,
)
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError, invalid_input, not_found
from pinwarden.api.filters import accepted
from pinwarden.api.lookup import (
    DELETE_REPLAY_WINDOW,
    code_not_found,
    device_in_workspace,
    earlier_delete,
    locked_access_code,
    new_action_attempt,
)
from pinwarden.api.new_codes import (
    NewCode,
    add_code,
    check_new_code,
    check_recurrence,
    device_rules,
    enable_backup_pool,
    pending_status,
)
from pinwarden.api.offline_codes import OfflineRequest, create_offline
from pinwarden.api.pagination import keyset, paginate_rows
from pinwarden.api.params import Id, Limit, Pin, ShortText, Text, Timestamp
from pinwarden.api.reads import CODES, code_row_view, codes_with_devices, device_exists
from pinwarden.api.wire import Endpoint, Params
from pinwarden.domain.codes import NoCodeAvailable, generate_code
from pinwarden.domain.errors import RuleViolation
from pinwarden.domain.windows import (
    resolve_update_window,
    validate_window,
)
from pinwarden.engine.unmanaged import add_unmanaged
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.prepared import PreparedRead
from pinwarden.store.sealed import keys
from pinwarden.store.tables import AccessCode, Device, UnmanagedAccessCode
from pinwarden.store.views import access_code_view, action_attempt_view
from pinwarden.timeutil import iso


class CreateParams(Params):
    device_id: Id
    name: Text | None = None
    code: Pin | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    common_code_key: ShortText | None = None
    allow_external_modification: bool | None = None
    is_external_modification_allowed: bool | None = None
    prefer_native_scheduling: bool | None = None
    preferred_code_length: int | None = None
    use_backup_access_code_pool: bool | None = None
    is_offline_access_code: bool | None = None
    use_offline_access_code: bool | None = None
    is_one_time_use: bool | None = None
    max_time_rounding: Literal["1hour", "1day", "1h", "1d"] | None = None
    attempt_for_offline_device: bool | None = None
    sync: bool | None = None
    # pinwarden extension: weekly windows (domain/recurrence.py).
    recurrence: dict[str, Any] | None = None


class UpdateParams(Params):
    access_code_id: Id
    device_id: Id | None = None
    name: Text | None = None
    code: Pin | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    type: Literal["ongoing", "time_bound"] | None = None
    allow_external_modification: bool | None = None
    is_external_modification_allowed: bool | None = None
    is_managed: bool | None = None
    prefer_native_scheduling: bool | None = None
    preferred_code_length: int | None = None
    use_backup_access_code_pool: bool | None = None
    is_offline_access_code: bool | None = None
    use_offline_access_code: bool | None = None
    is_one_time_use: bool | None = None
    max_time_rounding: Literal["1hour", "1day", "1h", "1d"] | None = None
    attempt_for_offline_device: bool | None = None
    sync: bool | None = None
    # pinwarden extension: weekly windows; null makes the code an ordinary one again.
    recurrence: dict[str, Any] | None = None


class DeleteParams(Params):
    access_code_id: Id
    device_id: Id | None = None
    sync: bool | None = None


class GetParams(Params):
    access_code_id: Id | None = None
    device_id: Id | None = None
    code: ShortText | None = None


class ListParams(Params):
    device_id: Id | None = None
    access_code_ids: list[Id] | None = None
    search: ShortText | None = None
    customer_key: ShortText | None = None
    user_identifier_key: ShortText | None = None
    access_method_id: Id | None = None
    access_grant_id: Id | None = None
    access_grant_key: ShortText | None = None
    limit: Limit = 55_000
    page_cursor: str | None = None


class GenerateParams(Params):
    device_id: Id


def _group_pin(session: Session, workspace_id: str, common_code_key: str) -> str | None:
    return session.scalar(
        select(AccessCode.code)
        .where(
            AccessCode.workspace_id == workspace_id,
            AccessCode.common_code_key == common_code_key,
        )
        .limit(1)
    )


def _create_offline(ctx: RequestContext, params: CreateParams) -> dict[str, Any]:
    """create with ``is_offline_access_code`` (R179–R186): the PIN comes from the lock's
    algorithm, so ``code`` and everything that touches the lock's slots are refused."""
    for name in ("code", "common_code_key", "use_backup_access_code_pool"):
        if getattr(params, name):
            raise invalid_input(f"{name} cannot be used with an offline access code", name)
    rounding = params.max_time_rounding or "1hour"
    request = OfflineRequest(
        name=params.name,
        starts_at=params.starts_at,
        ends_at=params.ends_at,
        max_time_rounding="1day" if rounding in ("1day", "1d") else "1hour",
        one_time=bool(params.is_one_time_use),
    )
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id, for_update=True)
        check_name(device.caps, params.name)
        result = create_offline(ctx, session, device, request)
    ctx.services.wake_worker()
    return result


def create(ctx: RequestContext, params: CreateParams) -> dict[str, Any]:
    """POST /access_codes/create."""
    if params.is_offline_access_code or params.use_offline_access_code:
        if params.recurrence is not None:
            raise invalid_input(
                "recurrence cannot be used with an offline access code", "recurrence"
            )
        return _create_offline(ctx, params)
    spec = NewCode(
        name=params.name,
        starts_at=params.starts_at,
        ends_at=params.ends_at,
        external=bool(
            external_modification_flag(
                params.allow_external_modification, params.is_external_modification_allowed
            )
        ),
        prefer_native_scheduling=params.prefer_native_scheduling is not False,
        is_one_time_use=bool(params.is_one_time_use),
        common_code_key=params.common_code_key,
    )
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id, for_update=True)
        check_new_code(device, spec, now)
        spec = replace(
            spec,
            recurrence=check_recurrence(
                params.recurrence, device, spec.starts_at, spec.ends_at, now, spec.is_one_time_use
            ),
        )
        if params.use_backup_access_code_pool:
            enable_backup_pool(session, device, now)
        rules = device_rules(device)
        live = live_codes(session, device.device_id)
        pin = params.code
        if params.common_code_key is not None:
            group_pin = _group_pin(session, ctx.workspace_id, params.common_code_key)
            if group_pin is not None:
                if pin is not None and pin != group_pin:
                    raise invalid_input(
                        "code differs from the code of the other access codes with this "
                        "common_code_key",
                        "code",
                    )
                pin = group_pin
        if pin is None:
            try:
                pin = generate_code(
                    rules,
                    ctx.services.rng,
                    params.preferred_code_length,
                    avoid={c.code for c in live if c.code},
                )
            except NoCodeAvailable as exc:
                raise invalid_input(str(exc), "code") from exc
        else:
            check_pin(rules, pin)
        check_duplicate(live, pin, (spec.starts_at, spec.ends_at))
        # Valid and about to be written: only now does the request spend budget (R51).
        ctx.services.rate_limits.check(session, "create", device.device_id)
        code, attempt = add_code(ctx, session, device, pin, spec, now)
        session.flush()
        result = {
            "access_code": access_code_view(code, list(device.errors), now=now),
            "action_attempt": action_attempt_view(attempt),
        }
    ctx.services.wake_worker()
    return result


def _changes(row: AccessCode, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Seam's ``changed_properties``: the ``values`` that differ from ``row``."""
    return [
        {"property": prop, "from": getattr(row, prop), "to": new}
        for prop, new in values.items()
        if getattr(row, prop) != new
    ]


def update_row(
    ctx: RequestContext,
    session: Session,
    row: AccessCode,
    device: Device,
    params: UpdateParams,
    charge: bool = True,
) -> bool:
    """Apply an update to ``row`` (the caller holds the device's lock); returns whether
    anything changed. Shared by update and update_multiple; ``charge`` False leaves the
    rate limit to the caller."""
    now = ctx.services.clock.now()
    if row.deleted_at is not None or row.used_at is not None:
        raise invalid_input("The access code is being removed and cannot be updated")
    if row.is_offline_access_code:
        # The lock computes it from its window; only a reset of the lock revokes it (R180).
        raise invalid_input("Offline access codes cannot be updated", "access_code_id")
    external = external_modification_flag(
        params.allow_external_modification, params.is_external_modification_allowed
    )
    model = device.caps
    supplied = {k: getattr(params, k) for k in ("starts_at", "ends_at") if params.given(k)}
    starts, ends = resolve_update_window(row.starts_at, row.ends_at, supplied, params.type)
    window_changed = (starts, ends) != (row.starts_at, row.ends_at)
    if window_changed:
        # A start already reached may stay; only a newly requested start must obey
        # the device's start_date_in_future rule.
        validate_window(
            starts,
            ends,
            now,
            "start_date_in_future" in model.constraints and starts != row.starts_at,
        )
    pin = row.code
    if params.given("code") and params.code is not None and params.code != row.code:
        if row.common_code_key is not None:
            raise invalid_input(
                "This access code shares its code with others (common_code_key); "
                "its code cannot be changed alone",
                "code",
            )
        check_pin(device_rules(device), params.code)
        pin = params.code
    if params.given("name"):
        check_name(model, params.name)
    one_time = params.is_one_time_use if params.is_one_time_use is not None else row.is_one_time_use
    recurrence = row.recurrence
    if params.given("recurrence") or (recurrence is not None and (window_changed or one_time)):
        # A new recurrence, or the old one within a new overall window.
        recurrence = check_recurrence(
            params.recurrence if params.given("recurrence") else recurrence,
            device,
            starts,
            ends,
            now,
            one_time,
        )
    if pin is not None and (pin != row.code or window_changed):
        check_duplicate(
            live_codes(session, device.device_id, exclude=row.access_code_id),
            pin,
            (starts, ends),
        )
    new_values: dict[str, Any] = {
        "name": params.name if params.given("name") else row.name,
        "code": pin,
        "starts_at": starts,
        "ends_at": ends,
        "is_external_modification_allowed": (
            external if external is not None else row.is_external_modification_allowed
        ),
        "prefer_native_scheduling": (
            params.prefer_native_scheduling
            if params.prefer_native_scheduling is not None
            else row.prefer_native_scheduling
        ),
        "is_one_time_use": one_time,
        "recurrence": recurrence,
    }
    changes = _changes(row, new_values)
    if not changes:
        # A no-op (such as the SDK replaying a PUT that was applied) asks nothing of the
        # lock and costs no budget, so a replay is never refused.
        return False
    if charge:
        ctx.services.rate_limits.check(session, "update", device.device_id)
    for change in changes:
        setattr(row, change["property"], change["to"])
    row.revision += 1
    if any(c["property"] in ("code", "starts_at", "ends_at", "recurrence") for c in changes):
        row.status = pending_status(row, device, now, ctx)
        row.pending_since = None
    record_event(
        session,
        "access_code.changed",
        now,
        workspace_id=ctx.workspace_id,
        device=device,
        access_code=row,
        changed_properties=[
            {**c, "from": _jsonable(c["from"]), "to": _jsonable(c["to"])} for c in changes
        ],
    )
    request_reconcile(session, device.device_id, now)
    return True


def _release(ctx: RequestContext, session: Session, row: AccessCode, device: Device) -> None:
    """``update`` with ``is_managed: false`` (R85): pinwarden lets go of a code that is on
    the lock; it stays there and is listed as unmanaged from now on."""
    if row.deleted_at is not None or row.used_at is not None:
        raise invalid_input("The access code is being removed and cannot be released")
    if row.recurrence is not None:
        # Released, it would stay on the lock around the clock.
        raise invalid_input("A recurring access code cannot be released to unmanaged", "is_managed")
    if not device.caps.lists_unmanaged_codes:
        raise invalid_input("This device does not support unmanaged access codes", "is_managed")
    if row.status != "set" or row.slot is None or row.op_kind is not None:
        raise invalid_input(
            "Only a code that is set on the device can be released to unmanaged", "is_managed"
        )
    ctx.services.rate_limits.check(session, "update", device.device_id)
    now = ctx.services.clock.now()
    slot = row.slot
    session.delete(row)
    # A record of an earlier PIN in this slot is stale: the slot is ours, and now this one's.
    # Through the ORM, not a Core DELETE, so the audit trail sees it (store/audit.py).
    for stale in session.scalars(
        select(UnmanagedAccessCode).where(
            UnmanagedAccessCode.device_id == row.device_id, UnmanagedAccessCode.slot == slot
        )
    ):
        session.delete(stale)
    session.flush()
    # The lock keeps only a window it was given natively.
    native = row.is_scheduled_on_device
    add_unmanaged(
        session,
        device,
        now,
        slot,
        row.code,
        row.name,
        starts_at=row.starts_at if native else None,
        ends_at=row.ends_at if native else None,
        access_code_id=row.access_code_id,
    )
    request_reconcile(session, device.device_id, now)


def update(ctx: RequestContext, params: UpdateParams) -> dict[str, Any]:
    """PUT/PATCH/POST /access_codes/update, including ongoing ↔ time-bound conversion (S0)
    and release to unmanaged (R85)."""
    if params.is_offline_access_code or params.use_offline_access_code:
        raise invalid_input(
            "An existing code cannot become an offline access code", "is_offline_access_code"
        )
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        row, device = locked_access_code(
            session, ctx.workspace_id, params.access_code_id, params.device_id
        )
        result: dict[str, Any] | None
        if params.use_backup_access_code_pool:
            enable_backup_pool(session, device, now)
        if params.is_managed is False:
            _release(ctx, session, row, device)
            changed, result = True, {}
        else:
            changed = update_row(ctx, session, row, device, params)
            result = None if changed else {"access_code": access_code_view(row, [], now=now)}
        # Nothing to change (e.g. a replayed PUT): the attempt is done already.
        attempt = new_action_attempt(
            session,
            ctx.workspace_id,
            "UPDATE_ACCESS_CODE",
            now,
            device_id=device.device_id,
            access_code_id=params.access_code_id,
            revision=row.revision,
            status="pending" if result is None else "success",
            result=result,
        )
        session.flush()
        response = {"action_attempt": action_attempt_view(attempt)}
    if changed:
        ctx.services.wake_worker()
    return response


def _jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def delete(ctx: RequestContext, params: DeleteParams) -> dict[str, Any]:
    """DELETE/POST /access_codes/delete; a replay answers the first attempt again (R53).

    A code being deleted (``removing``) answers its delete attempt for as long as it
    exists. Once it is gone, a replay within :data:`DELETE_REPLAY_WINDOW` still does, so
    an SDK retry after a lost response succeeds; later the code is not found (404), as on
    Seam, where a removed code no longer exists.
    """
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        try:
            row, device = locked_access_code(
                session, ctx.workspace_id, params.access_code_id, params.device_id
            )
        except SeamError:
            earlier = earlier_delete(
                session, ctx.workspace_id, params.access_code_id, now - DELETE_REPLAY_WINDOW
            )
            if earlier is None:
                raise
            return {"action_attempt": action_attempt_view(earlier)}
        if row.deleted_at is not None:
            earlier = earlier_delete(session, ctx.workspace_id, row.access_code_id)
            if earlier is not None:
                return {"action_attempt": action_attempt_view(earlier)}
        if row.is_offline_access_code:
            raise invalid_input(
                "Offline access codes cannot be deleted: the lock accepts them until they "
                "end, whatever pinwarden does",
                "access_code_id",
            )
        # Found, allowed and not a replay: the delete spends budget before it writes (R51).
        ctx.services.rate_limits.check(session, "delete", device.device_id)
        row.deleted_at = now
        row.revision += 1
        record_event(
            session,
            "access_code.deleted",
            now,
            workspace_id=ctx.workspace_id,
            device=device,
            access_code=row,
            code=row.code,
        )
        reconciling = device.lease_until is not None and device.lease_until > now
        never_programmed = not row.was_on_device and row.slot is None and row.op_kind is None
        attempt = new_action_attempt(
            session,
            ctx.workspace_id,
            "DELETE_ACCESS_CODE",
            now,
            device_id=device.device_id,
            access_code_id=row.access_code_id,
            revision=row.revision,
        )
        if never_programmed and not reconciling:
            # Nothing to take off the lock, and no reconcile is about to put it there:
            # gone at once, with no removed_from_device event (R93).
            session.delete(row)
            attempt.status, attempt.result = "success", {}
        else:
            row.status, row.pending_since = "removing", None
            request_reconcile(session, device.device_id, now)
        session.flush()
        result = {"action_attempt": action_attempt_view(attempt)}
    ctx.services.wake_worker()
    return result


_BY_ID = PreparedRead(
    codes_with_devices().where(
        AccessCode.access_code_id == bindparam("access_code_id"),
        AccessCode.workspace_id == bindparam("workspace_id"),
    )
)
# A PIN can be on the device twice for a while (one of them being removed): the live one,
# else the oldest.
_BY_PIN = (
    codes_with_devices()
    .where(
        AccessCode.device_id == bindparam("device_id"),
        Device.workspace_id == bindparam("workspace_id"),
        AccessCode.code_digest.in_(bindparam("digests", expanding=True)),
    )
    .order_by(AccessCode.deleted_at.is_not(None), AccessCode.created_at)
    .limit(1)
)


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /access_codes/get by id, or by device and PIN (R95–R96)."""
    check_lookup(params.access_code_id, params.device_id, params.code)
    workspace_id = ctx.workspace_id
    with ctx.rows() as conn:
        if params.access_code_id is not None:
            row = _BY_ID.first(
                conn, {"access_code_id": params.access_code_id, "workspace_id": workspace_id}
            )
            if row is None or params.device_id not in (None, row.device_id):
                raise code_not_found(params.access_code_id, params.device_id)
        else:
            assert params.device_id is not None and params.code is not None
            row = conn.execute(
                _BY_PIN,
                {
                    "device_id": params.device_id,
                    "workspace_id": workspace_id,
                    "digests": keys().digests(params.code),
                },
            ).first()
            if row is None:
                if not device_exists(conn, workspace_id, params.device_id):
                    raise not_found("device", device_id=params.device_id)
                raise not_found("access_code", device_id=params.device_id, code=params.code)
    return {"access_code": code_row_view(conn.dialect, row, ctx.services.clock.now())}


@functools.cache
def _list_statement(
    by_device: bool, by_ids: bool, by_search: bool, foreign: bool, after: bool
) -> Select[Any] | PreparedRead:
    """The list query for one shape of filters, with bound parameters (built once)."""
    # Unpulled backup-pool members are hidden (R99); pulled ones have a window.
    stmt = codes_with_devices().where(
        or_(AccessCode.is_backup.is_(False), AccessCode.ends_at.is_not(None))
    )
    if by_device:
        # The workspace is checked on the device (a code's is its device's), so that
        # SQLite walks the device's index rather than the whole workspace's codes.
        stmt = stmt.where(
            AccessCode.device_id == bindparam("device_id"),
            Device.workspace_id == bindparam("workspace_id"),
        )
    else:
        stmt = stmt.where(AccessCode.workspace_id == bindparam("workspace_id"))
    if foreign:
        # pinwarden has no customers, user identities or access grants: nothing matches.
        stmt = stmt.where(AccessCode.access_code_id.is_(None))
    if by_ids:
        stmt = stmt.where(AccessCode.access_code_id.in_(bindparam("ids", expanding=True)))
    if by_search:
        pattern = bindparam("pattern", type_=String)
        stmt = stmt.where(
            or_(
                AccessCode.name.ilike(pattern),
                # PINs are sealed: a search finds a code by its whole PIN, via its digest.
                AccessCode.code_digest.in_(bindparam("digests", expanding=True)),
                AccessCode.access_code_id.like(pattern),
            )
        )
    statement = keyset(stmt, AccessCode.created_at, AccessCode.access_code_id, after)
    # A list by device (the busiest) has no list parameters, so it can be prepared.
    return statement if by_ids or by_search else PreparedRead(statement)


def list_codes(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /access_codes/list (R97–R100), paginated."""
    foreign = (
        params.customer_key,
        params.user_identifier_key,
        params.access_method_id,
        params.access_grant_id,
        params.access_grant_key,
    )
    identifying = (params.device_id, params.access_code_ids, params.search, *foreign)
    if all(value is None for value in identifying):
        raise invalid_input(
            "Provide device_id, access_code_ids, search or an access grant/method filter",
            "device_id",
        )
    ids = accepted(params.access_code_ids)
    values: dict[str, Any] = {
        "workspace_id": ctx.workspace_id,
        "device_id": params.device_id,
        "ids": sorted(ids) if ids is not None else None,
        "pattern": f"%{params.search.lower()}%" if params.search else None,
        "digests": keys().digests(params.search) if params.search else [],
    }
    shape = functools.partial(
        _list_statement,
        params.device_id is not None,
        ids is not None,
        bool(params.search),
        any(foreign),
    )
    with ctx.rows() as conn:

        def check_device() -> None:
            if params.device_id is not None and not device_exists(
                conn, ctx.workspace_id, params.device_id
            ):
                raise not_found("device", device_id=params.device_id)

        if params.page_cursor:
            check_device()  # an unknown device is named before a bad cursor
        dialect = conn.dialect
        rows, pagination = paginate_rows(
            conn,
            shape,
            values,
            params,
            ctx.url,
            position_of=lambda row: (
                CODES.value(dialect, row, "created_at"),
                row.access_code_id,
            ),
        )
        if not rows:
            check_device()
    now = ctx.services.clock.now()
    return {
        "access_codes": [code_row_view(dialect, r, now) for r in rows],
        "pagination": pagination,
    }


def generate(ctx: RequestContext, params: GenerateParams) -> dict[str, Any]:
    """GET/POST /access_codes/generate_code: a valid PIN, nothing stored (R101)."""
    with ctx.services.db.read() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id)
        rules = device_rules(device)
        live = {c.code for c in live_codes(session, device.device_id) if c.code}
    if rules.cannot_specify_pin_code:
        raise invalid_input("This device assigns its own PINs", "device_id")
    try:
        pin = generate_code(rules, ctx.services.rng, avoid=live)
    except NoCodeAvailable as exc:
        raise RuleViolation(str(exc), "device_id") from exc
    return {"generated_code": {"device_id": device.device_id, "code": pin}}


ENDPOINTS = [
    Endpoint("/access_codes/create", ("POST",), CreateParams, create),
    Endpoint("/access_codes/update", ("POST", "PATCH", "PUT"), UpdateParams, update),
    Endpoint("/access_codes/delete", ("POST", "DELETE"), DeleteParams, delete),
    Endpoint(
        "/access_codes/get",
        ("GET", "POST"),
        GetParams,
        get,
        read_only=True,
        shares_connection=True,
    ),
    Endpoint(
        "/access_codes/list",
        ("GET", "POST"),
        ListParams,
        list_codes,
        read_only=True,
        shares_connection=True,
    ),
    Endpoint(
        "/access_codes/generate_code", ("GET", "POST"), GenerateParams, generate, read_only=True
    ),
]
