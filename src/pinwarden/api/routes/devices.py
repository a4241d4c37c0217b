"""``/devices/*`` and ``/locks/*``: read, rename, and sandbox simulations (spec §3.12)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.lookup import device_in_workspace, request_reconcile
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, Timestamp
from pinwarden.api.wire import Endpoint, Params
from pinwarden.devices.models import LOCK_MODELS
from pinwarden.store.events import record_event
from pinwarden.store.tables import Device
from pinwarden.store.views import device_view


class GetParams(Params):
    device_id: Id | None = None
    name: str | None = None


class ListParams(Params):
    device_ids: list[Id] | None = None
    device_type: str | None = None
    device_types: list[str] | None = None
    manufacturer: str | None = None
    connected_account_id: Id | None = None
    connected_account_ids: list[Id] | None = None
    connect_webview_id: Id | None = None
    customer_key: str | None = None
    user_identifier_key: str | None = None
    created_before: Timestamp | None = None
    custom_metadata_has: dict[str, str | bool] | None = None
    space_id: Id | None = None
    search: str | None = None
    include_if: list[str] | None = None
    exclude_if: list[str] | None = None
    limit: Limit = 500
    page_cursor: str | None = None
    unstable_location_id: Id | None = None


class PropertiesUpdate(Params):
    name: str | None = None


class UpdateParams(Params):
    device_id: Id
    name: str | None = None
    properties: PropertiesUpdate | None = None
    custom_metadata: dict[str, str | bool | None] | None = Field(default=None, max_length=50)
    is_managed: bool | None = None


class DeviceParams(Params):
    device_id: Id


def _find(session: Session, ctx: RequestContext, params: GetParams) -> Device:
    if params.device_id is not None:
        return device_in_workspace(session, ctx.workspace_id, params.device_id)
    if params.name is None:
        raise invalid_input("Provide device_id or name", "device_id")
    device = session.scalars(
        select(Device)
        .where(Device.workspace_id == ctx.workspace_id, Device.name == params.name)
        .order_by(Device.created_at)
    ).first()
    if device is None:
        raise not_found("device", name=params.name)
    return device


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /devices/get."""
    with ctx.services.db.read() as session:
        return {"device": device_view(_find(session, ctx, params))}


def get_lock(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /locks/get: one object under both ``device`` and ``lock``."""
    view = get(ctx, params)["device"]
    return {"device": view, "lock": view}


def _matches(view: dict[str, Any], params: ListParams) -> bool:
    """Filters on derived fields, applied after the SQL ones."""
    if params.device_type and view["device_type"] != params.device_type:
        return False
    if params.device_types and view["device_type"] not in params.device_types:
        return False
    if params.manufacturer and view["properties"]["manufacturer"] != params.manufacturer:
        return False
    for flag in params.include_if or []:
        if not view.get(flag):
            return False
    for flag in params.exclude_if or []:
        if view.get(flag):
            return False
    if params.custom_metadata_has:
        for key, wanted in params.custom_metadata_has.items():
            have = view["custom_metadata"].get(key)
            if str(have).lower() != str(wanted).lower():
                return False
    return not (params.search and params.search.lower() not in view["display_name"].lower())


def list_devices(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /devices/list (R115), paginated."""
    stmt = select(Device).where(Device.workspace_id == ctx.workspace_id)
    if params.device_ids is not None:
        stmt = stmt.where(Device.device_id.in_(params.device_ids))
    accounts = list(params.connected_account_ids or [])
    if params.connected_account_id:
        accounts.append(params.connected_account_id)
    if accounts:
        stmt = stmt.where(Device.connected_account_id.in_(accounts))
    if params.created_before is not None:
        stmt = stmt.where(Device.created_at < params.created_before)
    if params.device_type or params.device_types:
        wanted = {params.device_type, *(params.device_types or [])}
        keys = [k for k, m in LOCK_MODELS.items() if m.device_type in wanted]
        stmt = stmt.where(Device.model_key.in_(keys))
    if params.manufacturer:
        keys = [k for k, m in LOCK_MODELS.items() if m.manufacturer == params.manufacturer]
        stmt = stmt.where(Device.model_key.in_(keys))
    with ctx.services.db.read() as session:
        if params.customer_key or params.user_identifier_key or params.space_id:
            # pinwarden has no customers, user identities or spaces: nothing matches.
            stmt = stmt.where(Device.device_id.is_(None))
        rows, pagination = paginate(
            session,
            stmt,
            Device.created_at,
            Device.device_id,
            params.model_dump(mode="json"),
            params.limit,
            params.page_cursor,
            ctx.url,
        )
        views = [device_view(r) for r in rows]
    return {"devices": [v for v in views if _matches(v, params)], "pagination": pagination}


def list_locks(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /locks/list: devices that are locks, under ``devices`` and ``locks``."""
    devices = list_devices(ctx, params)["devices"]
    return {"devices": devices, "locks": devices}


def update(ctx: RequestContext, params: UpdateParams) -> dict[str, Any]:
    """PATCH/POST /devices/update: name and custom metadata (R116)."""
    if params.is_managed is False:
        raise invalid_input(
            "Unmanaging a device is not supported by this pinwarden version", "is_managed"
        )
    name = params.name
    if params.properties is not None and params.properties.given("name"):
        name = params.properties.name
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id, for_update=True)
        if params.given("name") or (
            params.properties is not None and params.properties.given("name")
        ):
            model = LOCK_MODELS[device.model_key]
            device.name = name if name else model.default_name
        if params.custom_metadata is not None:
            merged = dict(device.custom_metadata)
            for key, value in params.custom_metadata.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            if len(merged) > 50:
                raise invalid_input("custom_metadata holds at most 50 keys", "custom_metadata")
            device.custom_metadata = merged
    return {}


def _sandbox_device(ctx: RequestContext, session: Session, device_id: str) -> Device:
    if not ctx.is_sandbox:
        raise invalid_input("Simulations are only available in sandbox workspaces")
    device = device_in_workspace(session, ctx.workspace_id, device_id, for_update=True)
    if device.driver != "simulated":
        raise invalid_input("Only simulated devices can be simulated", "device_id")
    return device


def _set_online(ctx: RequestContext, device_id: str, online: bool) -> dict[str, Any]:
    now: datetime = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = _sandbox_device(ctx, session, device_id)
        if device.online == online:
            return {}
        device.online = online
        if online:
            record_event(
                session, "device.connected", now, workspace_id=ctx.workspace_id, device=device
            )
        else:
            record_event(
                session,
                "device.disconnected",
                now,
                workspace_id=ctx.workspace_id,
                device=device,
                error_code="device_disconnected",
            )
        request_reconcile(session, device.device_id, now)
    ctx.services.wake_worker()
    return {}


def simulate_connect(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/connect: the lock comes back online; pending work resumes."""
    return _set_online(ctx, params.device_id, True)


def simulate_disconnect(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/disconnect: the lock goes offline (R119)."""
    return _set_online(ctx, params.device_id, False)


def simulate_remove(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/remove: the lock leaves the account, with its codes."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = _sandbox_device(ctx, session, params.device_id)
        record_event(session, "device.removed", now, workspace_id=ctx.workspace_id, device=device)
        session.delete(device)
    return {}


ENDPOINTS = [
    Endpoint("/devices/get", ("GET", "POST"), GetParams, get, read_only=True),
    Endpoint("/devices/list", ("GET", "POST"), ListParams, list_devices, read_only=True),
    Endpoint("/devices/update", ("POST", "PATCH"), UpdateParams, update),
    Endpoint("/locks/get", ("GET", "POST"), GetParams, get_lock, read_only=True),
    Endpoint("/locks/list", ("GET", "POST"), ListParams, list_locks, read_only=True),
    Endpoint("/devices/simulate/connect", ("POST",), DeviceParams, simulate_connect),
    Endpoint("/devices/simulate/disconnect", ("POST",), DeviceParams, simulate_disconnect),
    Endpoint("/devices/simulate/remove", ("POST",), DeviceParams, simulate_remove),
]
