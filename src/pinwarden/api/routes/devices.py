"""``/devices/*`` and ``/locks/*``: read, rename, and sandbox simulations (spec §3.12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.lookup import device_in_workspace, request_reconcile, simulated_device
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, ShortText, Timestamp, TimeZone
from pinwarden.api.wire import Endpoint, Params
from pinwarden.devices.models import LOCK_MODELS
from pinwarden.store.events import record_event
from pinwarden.store.tables import Device
from pinwarden.store.views import capability_flags, device_view


class GetParams(Params):
    device_id: Id | None = None
    name: ShortText | None = None


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
    custom_metadata_has: dict[ShortText, ShortText | bool] | None = None
    space_id: Id | None = None
    search: ShortText | None = None
    include_if: list[str] | None = None
    exclude_if: list[str] | None = None
    limit: Limit = 500
    page_cursor: str | None = None
    unstable_location_id: Id | None = None


class PropertiesUpdate(Params):
    name: ShortText | None = None


class LocationUpdate(Params):
    # ``timezone`` is the OpenAPI's name, ``time_zone`` newer SDKs'; the device shows both.
    timezone: TimeZone | None = None
    time_zone: TimeZone | None = None


class UpdateParams(Params):
    device_id: Id
    name: ShortText | None = None
    properties: PropertiesUpdate | None = None
    custom_metadata: dict[ShortText, ShortText | bool | None] | None = Field(
        default=None, max_length=50
    )
    is_managed: bool | None = None
    # pinwarden extension: the lock's IANA time zone.
    location: LocationUpdate | None = None


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


def _model_keys(params: ListParams) -> list[str] | None:
    """Lock models that pass the filters derived from the model, or None for "any"."""
    types = {t for t in (params.device_type, *(params.device_types or [])) if t}
    include, exclude = params.include_if or [], params.exclude_if or []
    if not (types or params.manufacturer or include or exclude):
        return None
    keys = []
    for key, model in LOCK_MODELS.items():
        flags = capability_flags(model)
        if (
            (not types or model.device_type in types)
            and (not params.manufacturer or model.manufacturer == params.manufacturer)
            and all(flags.get(f, False) for f in include)
            and not any(flags.get(f, False) for f in exclude)
        ):
            keys.append(key)
    return keys


def _metadata_matches(wanted: dict[str, str | bool]) -> Callable[[Device], bool]:
    def keep(device: Device) -> bool:
        have = device.custom_metadata
        return all(
            key in have and str(have[key]).lower() == str(value).lower()
            for key, value in wanted.items()
        )

    return keep


def list_devices(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /devices/list (R115), paginated."""
    stmt = select(Device).where(Device.workspace_id == ctx.workspace_id)
    if params.device_ids is not None:
        stmt = stmt.where(Device.device_id.in_(params.device_ids))
    accounts = [*(params.connected_account_ids or [])]
    if params.connected_account_id:
        accounts.append(params.connected_account_id)
    if accounts:
        stmt = stmt.where(Device.connected_account_id.in_(accounts))
    if params.created_before is not None:
        stmt = stmt.where(Device.created_at < params.created_before)
    keys = _model_keys(params)
    if keys is not None:
        stmt = stmt.where(Device.model_key.in_(keys))
    if params.search:
        stmt = stmt.where(Device.name.ilike(f"%{params.search}%"))
    if params.customer_key or params.user_identifier_key or params.space_id:
        # pinwarden has no customers, user identities or spaces: nothing matches.
        stmt = stmt.where(Device.device_id.is_(None))
    keep = _metadata_matches(params.custom_metadata_has) if params.custom_metadata_has else None
    with ctx.services.db.read() as session:
        rows, pagination = paginate(
            session,
            stmt,
            Device.created_at,
            Device.device_id,
            params,
            ctx.url,
            keep,
        )
        return {"devices": [device_view(r) for r in rows], "pagination": pagination}


def list_locks(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /locks/list: devices that are locks, under ``devices`` and ``locks``."""
    devices = list_devices(ctx, params)["devices"]
    return {"devices": devices, "locks": devices}


def _requested_time_zone(params: UpdateParams) -> str | None:
    """The zone ``location`` sets, or None when the request sets none."""
    if not params.given("location"):
        return None
    location = params.location
    names = (
        {None}
        if location is None
        else {getattr(location, key) for key in ("timezone", "time_zone") if location.given(key)}
    )
    if None in names:
        # A lock's clock always runs in some zone: it can be corrected, not forgotten.
        raise invalid_input("A device's time zone can be changed but not removed", "location")
    if len(names) > 1:
        raise invalid_input("location.timezone and location.time_zone disagree", "location")
    return next(iter(names), None)


def update(ctx: RequestContext, params: UpdateParams) -> dict[str, Any]:
    """PATCH/POST /devices/update: name, custom metadata (R116) and, as a pinwarden
    extension, the time zone (``location.timezone``)."""
    if params.is_managed is False:
        raise invalid_input(
            "Unmanaging a device is not supported by this pinwarden version", "is_managed"
        )
    renamed = params.given("name")
    name = params.name
    if params.properties is not None and params.properties.given("name"):
        renamed, name = True, params.properties.name
    time_zone = _requested_time_zone(params)
    rezoned = False
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id, for_update=True)
        if renamed:
            # A null name means "back to the default", as for a freshly added lock.
            device.name = name or LOCK_MODELS[device.model_key].default_name
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
        if time_zone is not None and time_zone != device.time_zone:
            device.time_zone = time_zone
            # The zone decides whether, and in which wall-clock times, a local-time lock
            # holds its codes' windows.
            request_reconcile(session, device.device_id, ctx.services.clock.now())
            rezoned = True
    if rezoned:
        ctx.services.wake_worker()
    return {}


def _connectivity_changed(
    session: Session, ctx: RequestContext, device: Device, connected: bool, error_code: str
) -> None:
    """Record ``device.connected`` / ``device.disconnected`` and have the lock looked at."""
    now = ctx.services.clock.now()
    if connected:
        record_event(session, "device.connected", now, workspace_id=ctx.workspace_id, device=device)
    else:
        record_event(
            session,
            "device.disconnected",
            now,
            workspace_id=ctx.workspace_id,
            device=device,
            error_code=error_code,
        )
    request_reconcile(session, device.device_id, now)


def _set_online(ctx: RequestContext, device_id: str, online: bool) -> dict[str, Any]:
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, device_id)
        if device.online == online:
            return {}
        device.online = online
        _connectivity_changed(session, ctx, device, online, "device_disconnected")
    ctx.services.wake_worker()
    return {}


def simulate_connect(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/connect: the lock comes back online; pending work resumes."""
    return _set_online(ctx, params.device_id, True)


def simulate_disconnect(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/disconnect: the lock goes offline (R119)."""
    return _set_online(ctx, params.device_id, False)


def _set_hub(ctx: RequestContext, device_id: str, connected: bool) -> dict[str, Any]:
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, device_id)
        if not LOCK_MODELS[device.model_key].has_hub:
            raise invalid_input("This lock has no hub to connect or disconnect", "device_id")
        faults = dict(device.sim_faults or {})
        if bool(faults.get("hub_disconnected")) == (not connected):
            return {}
        faults["hub_disconnected"] = not connected
        device.sim_faults = faults
        _connectivity_changed(session, ctx, device, connected, "hub_disconnected")
    ctx.services.wake_worker()
    return {}


def simulate_connect_to_hub(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/connect_to_hub: the lock's hub is back (R119)."""
    return _set_hub(ctx, params.device_id, True)


def simulate_disconnect_from_hub(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/disconnect_from_hub: the lock is cut off behind its hub."""
    return _set_hub(ctx, params.device_id, False)


class FaultParams(Params):
    device_id: Id
    latency_ms: int | None = Field(default=None, ge=0, le=600_000)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    reject_rate: float | None = Field(default=None, ge=0, le=1)
    drop_after_ack: bool | None = None
    mask_pins: bool | None = None


def simulate_faults(ctx: RequestContext, params: FaultParams) -> dict[str, Any]:
    """pinwarden extension: make a sandbox lock slow, flaky, refusing, forgetful or
    PIN-hiding.

    Only the settings sent change; ``null`` restores the default."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, params.device_id)
        faults = dict(device.sim_faults or {})
        for name in ("latency_ms", "failure_rate", "reject_rate", "drop_after_ack", "mask_pins"):
            if params.given(name):
                value = getattr(params, name)
                if value is None:
                    faults.pop(name, None)
                else:
                    faults[name] = value
        device.sim_faults = faults
        request_reconcile(session, device.device_id, now)
        view = {k: v for k, v in faults.items() if k != "hub_disconnected"}
    ctx.services.wake_worker()
    return {"device_faults": {"device_id": params.device_id, **view}}


def simulate_remove(ctx: RequestContext, params: DeviceParams) -> dict[str, Any]:
    """POST /devices/simulate/remove: the lock leaves the account, with its codes."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        device = simulated_device(session, ctx.workspace_id, ctx.is_sandbox, params.device_id)
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
    Endpoint("/devices/simulate/connect_to_hub", ("POST",), DeviceParams, simulate_connect_to_hub),
    Endpoint(
        "/devices/simulate/disconnect_from_hub",
        ("POST",),
        DeviceParams,
        simulate_disconnect_from_hub,
    ),
    Endpoint("/devices/simulate/faults", ("POST",), FaultParams, simulate_faults),
]
