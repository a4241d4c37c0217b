"""``/access_codes/create_multiple`` and ``update_multiple``: one PIN on several locks,
linked by a ``common_code_key`` (spec §3.2, §3.4, §7.1)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pinwarden.api.checks import check_duplicate, external_modification_flag, live_codes
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.lookup import device_in_workspace
from pinwarden.api.new_codes import (
    NewCode,
    add_code,
    check_new_code,
    code_view,
    device_rules,
    enable_backup_pool,
)
from pinwarden.api.params import Id, Pin, ShortText, Text, Timestamp
from pinwarden.api.routes.access_codes import UpdateParams, update_row
from pinwarden.api.wire import Endpoint, Params
from pinwarden.domain.codes import (
    CodeRules,
    NoCodeAvailable,
    code_violations,
    generate_code,
    shared_rules,
)
from pinwarden.store.sealed import keys
from pinwarden.store.tables import AccessCode, Device, ReplayGuard

# Long enough to cover the SDK's retries (seconds apart), short enough that a deliberate
# identical request a while later is served afresh.
REPLAY_WINDOW = timedelta(minutes=10)


class CreateMultipleParams(Params):
    device_ids: list[Id] = Field(min_length=1, max_length=1000)
    behavior_when_code_cannot_be_shared: Literal["throw", "create_random_code"] = "throw"
    preferred_code_length: int | None = None
    code: Pin | None = None
    name: Text | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    allow_external_modification: bool | None = None
    is_external_modification_allowed: bool | None = None
    prefer_native_scheduling: bool | None = None
    attempt_for_offline_device: bool | None = None
    use_backup_access_code_pool: bool | None = None


class UpdateMultipleParams(Params):
    common_code_key: ShortText
    name: Text | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None


def _digest(workspace_id: str, params: Params) -> str:
    # Keyed: the parameters hold the PIN, and the rest of them can be read off the codes
    # the guard names. (After a key rotation a retry within the window is not recognised.)
    body = json.dumps(params.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    return keys().digest(f"{workspace_id}\n{body}")


def _replayed(
    session: Session, workspace_id: str, digest: str, now: datetime
) -> list[AccessCode] | None:
    """The codes an identical recent request created, if there was one."""
    session.execute(delete(ReplayGuard).where(ReplayGuard.created_at < now - REPLAY_WINDOW))
    guard = session.get(ReplayGuard, (workspace_id, digest))
    if guard is None:
        return None
    rows = {
        r.access_code_id: r
        for r in session.scalars(
            select(AccessCode).where(AccessCode.access_code_id.in_(guard.access_code_ids))
        )
    }
    if len(rows) < len(guard.access_code_ids):
        # Some of those codes are gone already: this is a new request, not a retry.
        session.delete(guard)
        session.flush()
        return None
    return [rows[i] for i in guard.access_code_ids]


def _own_pin(ctx: RequestContext, device: Device, avoid: set[str], length: int | None) -> str:
    try:
        return generate_code(device_rules(device), ctx.services.rng, length, avoid=avoid)
    except NoCodeAvailable as exc:
        raise invalid_input(f"Device {device.device_id}: {exc}", "device_ids") from exc


def _choose_pins(
    ctx: RequestContext,
    devices: list[Device],
    live: dict[str, set[str]],
    params: CreateMultipleParams,
) -> tuple[dict[str, str], set[str]]:
    """One PIN per device, and the devices that share a generated one (R74–R76)."""
    throw = params.behavior_when_code_cannot_be_shared == "throw"
    length = params.preferred_code_length
    pins: dict[str, str] = {}
    shared: set[str] = set()
    if params.code is not None:
        misfits = []
        for d in devices:
            problems = code_violations(params.code, device_rules(d))
            if problems:
                misfits.append(f"{d.device_id}: " + "; ".join(problems))
            else:
                pins[d.device_id] = params.code
    else:
        # Keep each device whose rules still leave a common PIN length with the others.
        sharing: list[Device] = []
        rules: CodeRules | None = None
        for d in devices:
            merged = shared_rules([device_rules(d)] if rules is None else [rules, device_rules(d)])
            if merged is not None:
                rules = merged
                sharing.append(d)
        taken = set().union(*(live[d.device_id] for d in sharing))
        try:
            if rules is not None:
                pin = generate_code(rules, ctx.services.rng, length, avoid=taken)
                pins = {d.device_id: pin for d in sharing}
                shared = set(pins)
        except NoCodeAvailable:
            pass
        misfits = [d.device_id for d in devices if d.device_id not in pins]
    if misfits and throw:
        raise invalid_input(
            "The code cannot be used on every device (behavior_when_code_cannot_be_shared "
            "is throw): " + ", ".join(misfits),
            "code" if params.code is not None else "device_ids",
        )
    for d in devices:
        if d.device_id not in pins:
            pins[d.device_id] = _own_pin(ctx, d, live[d.device_id], length)
    return pins, shared


def create_multiple(ctx: RequestContext, params: CreateMultipleParams) -> dict[str, Any]:
    """PUT/POST /access_codes/create_multiple; a retried request answers with the codes its
    first run created (R78)."""
    if len(set(params.device_ids)) != len(params.device_ids):
        raise invalid_input("device_ids must not repeat a device", "device_ids")
    external = external_modification_flag(
        params.allow_external_modification, params.is_external_modification_allowed
    )
    now = ctx.services.clock.now()
    digest = _digest(ctx.workspace_id, params)
    with ctx.services.db.write() as session:
        # Lock devices in one global order, so concurrent requests cannot deadlock; a
        # concurrent identical request then finishes before this one looks for it.
        locked = {
            i: device_in_workspace(session, ctx.workspace_id, i, for_update=True)
            for i in sorted(params.device_ids)
        }
        earlier = _replayed(session, ctx.workspace_id, digest, now)
        if earlier is None:
            devices = [locked[i] for i in params.device_ids]
            if params.use_backup_access_code_pool:
                for d in devices:
                    enable_backup_pool(session, d, now)
            earlier = _create_group(ctx, session, devices, params, bool(external), now)
            session.add(
                ReplayGuard(
                    workspace_id=ctx.workspace_id,
                    digest=digest,
                    created_at=now,
                    access_code_ids=[c.access_code_id for c in earlier],
                )
            )
        codes = [code_view(c, locked[c.device_id]) for c in earlier]
    ctx.services.wake_worker()
    return {"access_codes": codes}


def _create_group(
    ctx: RequestContext,
    session: Session,
    devices: list[Device],
    params: CreateMultipleParams,
    external: bool,
    now: datetime,
) -> list[AccessCode]:
    key = f"auto_set_by_create_multiple_{uuid.uuid4()}"
    spec = NewCode(
        name=params.name,
        starts_at=params.starts_at,
        ends_at=params.ends_at,
        external=external,
        prefer_native_scheduling=params.prefer_native_scheduling is not False,
        is_one_time_use=False,
    )
    live: dict[str, list[AccessCode]] = {}
    for d in devices:
        check_new_code(d, spec, now)
        live[d.device_id] = live_codes(session, d.device_id)
    pins, sharing = _choose_pins(
        ctx, devices, {i: {c.code for c in rows if c.code} for i, rows in live.items()}, params
    )
    for d in devices:
        check_duplicate(live[d.device_id], pins[d.device_id], (spec.starts_at, spec.ends_at))
    # Valid on every device: the request spends each device's create budget, or none (R51).
    ctx.services.rate_limits.check(session, "create", *(d.device_id for d in devices))
    created = []
    for d in devices:
        pin = pins[d.device_id]
        linked = replace(spec, common_code_key=key if d.device_id in sharing else None)
        code, _attempt = add_code(ctx, session, d, pin, linked, now)
        created.append(code)
    session.flush()
    return created


def update_multiple(ctx: RequestContext, params: UpdateMultipleParams) -> dict[str, Any]:
    """PATCH/POST /access_codes/update_multiple: name and window of every code in the group
    change together, or none does (R89–R90, R168)."""
    change = params.model_dump(exclude_unset=True, include={"name", "starts_at", "ends_at"})
    changed: set[str] = set()
    with ctx.services.db.write() as session:
        rows = list(
            session.scalars(
                select(AccessCode)
                .where(
                    AccessCode.workspace_id == ctx.workspace_id,
                    AccessCode.common_code_key == params.common_code_key,
                    AccessCode.deleted_at.is_(None),
                    AccessCode.used_at.is_(None),
                )
                .order_by(AccessCode.device_id, AccessCode.access_code_id)
            )
        )
        if not rows:
            raise not_found("access_code", common_code_key=params.common_code_key)
        for row in rows:
            device = device_in_workspace(session, ctx.workspace_id, row.device_id, for_update=True)
            session.refresh(row)
            one = UpdateParams.model_validate({"access_code_id": row.access_code_id, **change})
            if update_row(ctx, session, row, device, one, charge=False):
                changed.add(device.device_id)
        # Every member is valid: spend each changed device's budget, or refuse (and roll
        # back) the whole group (R51).
        ctx.services.rate_limits.check(session, "update", *changed)
    if changed:
        ctx.services.wake_worker()
    return {}


ENDPOINTS = [
    Endpoint(
        "/access_codes/create_multiple", ("POST", "PUT"), CreateMultipleParams, create_multiple
    ),
    Endpoint(
        "/access_codes/update_multiple", ("POST", "PATCH"), UpdateMultipleParams, update_multiple
    ),
]
