"""The columns and statements behind the busiest reads, in SQLAlchemy Core.

Profiled, ORM sessions (identity map, instrumented attributes, a transaction per
session) and rebuilding statements per request cost more than the queries themselves on
these paths. Here each read is one prebuilt statement with bound parameters (SQLAlchemy
reuses its compiled form) run on :meth:`~pinwarden.store.db.Database.rows`, and rows go
straight to their wire views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.engine import Connection

from pinwarden.api.new_codes import device_facts
from pinwarden.store.tables import AccessCode, Device
from pinwarden.store.views import access_code_view

# What access_code_view reads, and the two facts of its device it shows (R140, R177).
CODE_COLUMNS = (
    AccessCode.access_code_id,
    AccessCode.device_id,
    AccessCode.workspace_id,
    AccessCode.name,
    AccessCode.code,
    AccessCode.common_code_key,
    AccessCode.starts_at,
    AccessCode.ends_at,
    AccessCode.created_at,
    AccessCode.status,
    AccessCode.errors,
    AccessCode.warnings,
    AccessCode.is_external_modification_allowed,
    AccessCode.is_offline_access_code,
    AccessCode.is_one_time_use,
    AccessCode.is_backup,
    AccessCode.pulled_backup_access_code_id,
    AccessCode.is_scheduled_on_device,
    AccessCode.recurrence,
    Device.errors.label("device_errors"),
    Device.backup_pool_enabled.label("device_pool_enabled"),
)

# What device_view reads.
DEVICE_COLUMNS = (
    Device.device_id,
    Device.workspace_id,
    Device.connected_account_id,
    Device.capabilities,
    Device.name,
    Device.online,
    Device.locked,
    Device.battery_level,
    Device.reported_code_lengths,
    Device.created_at,
    Device.custom_metadata,
    Device.errors,
    Device.time_zone,
)


def codes_with_devices() -> Select[Any]:
    """Managed codes joined to their devices, as :func:`code_row_view` reads them."""
    return select(*CODE_COLUMNS).join(Device, Device.device_id == AccessCode.device_id)


def code_row_view(row: Row[Any], now: datetime) -> dict[str, Any]:
    """The wire view of a :func:`codes_with_devices` row at ``now``."""
    return access_code_view(row, *device_facts(row.device_errors, row.device_pool_enabled), now=now)


_DEVICE_EXISTS = select(Device.device_id).where(
    Device.device_id == bindparam("device_id"), Device.workspace_id == bindparam("workspace_id")
)


def device_exists(conn: Connection, workspace_id: str, device_id: str) -> bool:
    """Whether the workspace has this device: asked only when a read found nothing, to
    tell "no such device" from "nothing on it"."""
    found = conn.execute(_DEVICE_EXISTS, {"device_id": device_id, "workspace_id": workspace_id})
    return found.first() is not None
