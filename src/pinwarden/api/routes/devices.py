"""``/devices/*`` and ``/locks/*``: read and rename (spec §3.12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from sqlalchemy import bindparam, select

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.filters import accepted, where_accepted
from pinwarden.api.lookup import device_in_workspace
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, ShortText, Timestamp, TimeZone
from pinwarden.api.reads import DEVICES, device_row_view
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store.notify import request_reconcile
from pinwarden.store.prepared import PreparedRead
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


_BY_ID = PreparedRead(
    select(*DEVICES.selected).where(
        Device.device_id == bindparam("device_id"),
        Device.workspace_id == bindparam("workspace_id"),
    )
)
_BY_NAME = PreparedRead(
    select(*DEVICES.selected)
    .where(Device.workspace_id == bindparam("workspace_id"), Device.name == bindparam("name"))
    .order_by(Device.created_at)
    .limit(1)
)


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /devices/get, by id or by name (the oldest of that name)."""
    if params.device_id is None and params.name is None:
        raise invalid_input("Provide device_id or name", "device_id")
    with ctx.rows() as conn:
        if params.device_id is not None:
            found = _BY_ID.first(
                conn, {"device_id": params.device_id, "workspace_id": ctx.workspace_id}
            )
            if found is None:
                raise not_found("device", device_id=params.device_id)
        else:
            found = _BY_NAME.first(conn, {"name": params.name, "workspace_id": ctx.workspace_id})
            if found is None:
                raise not_found("device", name=params.name)
    return {"device": device_row_view(ctx.services.db.engine.dialect, found)}


def get_lock(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /locks/get: one object under both ``device`` and ``lock``."""
    view = get(ctx, params)["device"]
    return {"device": view, "lock": view}


def _matches(params: ListParams) -> Callable[[Device], bool] | None:
    """The filters that read a device's capabilities and metadata, or None for "any"."""
    # An empty singular string is "not given" (the SDKs omit them, R27).
    types = accepted(params.device_types, params.device_type or None)
    # Not lists of ids: "has every one of these flags" and "has none of them" hold of
    # every device when the list is empty.
    include, exclude = params.include_if or [], params.exclude_if or []
    wanted = params.custom_metadata_has or {}
    if types is None and not (params.manufacturer or include or exclude or wanted):
        return None

    def keep(device: Device) -> bool:
        caps = device.caps
        flags = capability_flags(device)
        have = device.custom_metadata
        return (
            (types is None or caps.device_type in types)
            and (not params.manufacturer or caps.manufacturer == params.manufacturer)
            and all(flags.get(f, False) for f in include)
            and not any(flags.get(f, False) for f in exclude)
            and all(
                key in have and str(have[key]).lower() == str(value).lower()
                for key, value in wanted.items()
            )
        )

    return keep


def list_devices(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /devices/list (R115), paginated."""
    stmt = select(Device).where(Device.workspace_id == ctx.workspace_id)
    stmt = where_accepted(stmt, Device.device_id, params.device_ids)
    stmt = where_accepted(
        stmt,
        Device.connected_account_id,
        params.connected_account_ids,
        params.connected_account_id,
    )
    if params.created_before is not None:
        stmt = stmt.where(Device.created_at < params.created_before)
    if params.search:
        stmt = stmt.where(Device.name.ilike(f"%{params.search}%"))
    if params.customer_key or params.user_identifier_key or params.space_id:
        # pinwarden has no customers, user identities or spaces: nothing matches.
        stmt = stmt.where(Device.device_id.is_(None))
    keep = _matches(params)
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
            device.name = name or device.caps.default_name
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


ENDPOINTS = [
    Endpoint(
        "/devices/get", ("GET", "POST"), GetParams, get, read_only=True, shares_connection=True
    ),
    Endpoint("/devices/list", ("GET", "POST"), ListParams, list_devices, read_only=True),
    Endpoint("/devices/update", ("POST", "PATCH"), UpdateParams, update),
    Endpoint(
        "/locks/get", ("GET", "POST"), GetParams, get_lock, read_only=True, shares_connection=True
    ),
    Endpoint("/locks/list", ("GET", "POST"), ListParams, list_locks, read_only=True),
]
