"""Seam's JSON shapes of stored rows: used by the API, by events and by action attempts.

The code and device views take ORM objects or Core rows with the same column names (the
API's hot reads skip the ORM: ``api/reads.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from pinwarden.devices.capabilities import LockCapabilities
from pinwarden.domain.issues import has_error
from pinwarden.domain.recurrence import Recurrence, occurrence_at
from pinwarden.domain.windows import code_type
from pinwarden.store.tables import (
    AccessCode,
    ActionAttempt,
    ConnectedAccount,
    Device,
    UnmanagedAccessCode,
    Workspace,
)
from pinwarden.timeutil import iso

ACCOUNT_DISCONNECTED = "account_disconnected"


def access_code_view(
    code: AccessCode | Row[Any],
    device_errors: list[dict[str, Any]],
    pool_ready: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A managed access code (OAS ``access_code``); device errors are copied on (R140).

    ``pool_ready``: the device's backup pool has a code ready to pull (R177). ``now``: the
    instant a recurring code's next occurrence is found from.
    """
    kind = code_type(code.starts_at, code.ends_at)
    view = {
        "access_code_id": code.access_code_id,
        "device_id": code.device_id,
        "workspace_id": code.workspace_id,
        "name": code.name,
        "appearance": None,
        "code": code.code,
        "common_code_key": code.common_code_key,
        "type": kind,
        # pinwarden cannot tell while the lock's account is disconnected (T18).
        "status": "unknown" if has_error(device_errors, ACCOUNT_DISCONNECTED) else code.status,
        "starts_at": iso(code.starts_at),
        "ends_at": iso(code.ends_at),
        "created_at": iso(code.created_at),
        "errors": [*code.errors, *device_errors],
        "warnings": list(code.warnings),
        "is_managed": True,
        "is_external_modification_allowed": code.is_external_modification_allowed,
        "is_offline_access_code": code.is_offline_access_code,
        "is_one_time_use": code.is_one_time_use,
        "is_backup_access_code_available": kind == "time_bound"
        and not code.is_backup
        and (pool_ready or code.pulled_backup_access_code_id is not None),
        "is_backup": code.is_backup,
        "pulled_backup_access_code_id": code.pulled_backup_access_code_id,
        "is_scheduled_on_device": code.is_scheduled_on_device if kind == "time_bound" else None,
        "is_waiting_for_code_assignment": False,
        "pending_mutations": [],
    }
    if code.recurrence is not None:
        view.update(recurrence_fields(code.recurrence, code.starts_at, code.ends_at, now))
    return view


def recurrence_fields(
    recurrence: dict[str, Any],
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime | None,
) -> dict[str, Any]:
    """pinwarden's extension fields of a recurring code: its recurrence and its current or
    next occurrence (None when none is left). Other codes have none of them, so their JSON
    is exactly Seam's."""
    found = (
        None
        if now is None
        else occurrence_at(Recurrence.from_json(recurrence), starts_at, ends_at, now)
    )
    return {
        "recurrence": recurrence,
        "next_occurrence_starts_at": None if found is None else iso(found[0]),
        "next_occurrence_ends_at": None if found is None else iso(found[1]),
    }


def unmanaged_access_code_view(
    code: UnmanagedAccessCode, model: LockCapabilities
) -> dict[str, Any]:
    """OAS ``unmanaged_access_code``: a PIN on a lock of ``model`` that pinwarden does not
    manage."""
    return {
        "access_code_id": code.access_code_id,
        "device_id": code.device_id,
        "workspace_id": code.workspace_id,
        "name": code.name,
        "code": code.code,
        "type": code_type(code.starts_at, code.ends_at),
        "status": "set",
        "starts_at": iso(code.starts_at),
        "ends_at": iso(code.ends_at),
        "created_at": iso(code.created_at),
        "errors": [],
        "warnings": [],
        "is_managed": False,
        "cannot_be_managed": not model.can_convert_unmanaged_codes,
    }


def connected_account_view(account: ConnectedAccount) -> dict[str, Any]:
    """OAS ``connected_account``: the vendor account a workspace's locks come through."""
    errors = (
        []
        if account.disconnected_at is None
        else [
            {
                "error_code": ACCOUNT_DISCONNECTED,
                "message": "The account is disconnected",
                "created_at": iso(account.disconnected_at),
                "is_connected_account_error": True,
            }
        ]
    )
    return {
        "connected_account_id": account.connected_account_id,
        "account_type": account.provider,
        "account_type_display_name": account.provider.capitalize(),
        "display_name": f"{account.provider.capitalize()} account",
        "created_at": iso(account.created_at),
        "errors": errors,
        "warnings": [],
        "custom_metadata": {},
        "automatically_manage_new_devices": True,
        "accepted_capabilities": ["lock"],
        "user_identifier": None,
        "image_url": None,
        "customer_key": None,
    }


def capability_flags(device: Device | Row[Any]) -> dict[str, bool]:
    """The ``can_*`` flags of a lock, from what it reports."""
    return _flags(LockCapabilities.from_json(device.capabilities))


def _flags(caps: LockCapabilities) -> dict[str, bool]:
    simulated = caps.simulated
    return {
        "can_program_online_access_codes": True,
        "can_program_offline_access_codes": caps.can_program_offline_access_codes,
        "can_remotely_lock": caps.can_lock,
        "can_remotely_unlock": caps.can_unlock,
        "can_unlock_with_code": caps.has_keypad,
        "can_simulate_connection": simulated,
        "can_simulate_disconnection": simulated,
        "can_simulate_removal": simulated,
        "can_simulate_hub_connection": simulated and caps.has_hub,
        "can_simulate_hub_disconnection": simulated and caps.has_hub,
    }


def _battery(level: float | None) -> dict[str, Any]:
    """``battery_level`` and ``battery`` (both optional in the OpenAPI): absent while the
    lock has not said."""
    if level is None:
        return {}
    status = (
        "critical" if level < 0.1 else "low" if level < 0.25 else "good" if level < 0.9 else "full"
    )
    return {"battery_level": level, "battery": {"level": level, "status": status}}


def device_view(device: Device | Row[Any]) -> dict[str, Any]:
    """A lock (OAS ``device``), properties derived from its reported capabilities and
    live state."""
    model = LockCapabilities.from_json(device.capabilities)
    constraints: list[dict[str, Any]] = []
    for constraint in model.constraints:
        if constraint == "name_length" and model.name_length is not None:
            low, high = model.name_length
            constraints.append(
                {"constraint_type": "name_length", "min_length": low, "max_length": high}
            )
        else:
            constraints.append({"constraint_type": constraint})
    manufacturer = model.manufacturer
    properties: dict[str, Any] = {
        "name": device.name,
        "online": device.online,
        "locked": device.locked,
        "door_open": False,
        "manufacturer": manufacturer,
        "model": {
            "display_name": model.model_display_name,
            "manufacturer_display_name": manufacturer.capitalize(),
            "has_built_in_keypad": model.has_keypad,
            "can_connect_accessory_keypad": False,
            "online_access_codes_supported": True,
            "offline_access_codes_supported": model.can_program_offline_access_codes,
        },
        "appearance": {"name": device.name},
        **_battery(device.battery_level),
        "has_direct_power": False,
        "supported_code_lengths": list(
            model.rules_for(device.reported_code_lengths).supported_code_lengths
        ),
        "code_constraints": constraints,
        "max_active_codes_supported": model.slot_count,
        "supports_backup_access_code_pool": model.supports_backup_access_code_pool,
        "has_native_entry_events": model.has_native_entry_events,
        "online_access_codes_enabled": True,
        "offline_access_codes_enabled": model.can_program_offline_access_codes,
        "supports_offline_access_codes": model.can_program_offline_access_codes,
        "supports_accessory_keypad": False,
        "image_url": None,
        "image_alt_text": f"{manufacturer.capitalize()} {model.model_display_name}",
    }
    return {
        "device_id": device.device_id,
        "device_type": model.device_type,
        "display_name": device.name,
        "nickname": device.name,
        "workspace_id": device.workspace_id,
        "connected_account_id": device.connected_account_id,
        "created_at": iso(device.created_at),
        "is_managed": True,
        "custom_metadata": dict(device.custom_metadata),
        "errors": list(device.errors),
        "warnings": [],
        "space_ids": [],
        # ``timezone`` is the OpenAPI's field; newer SDKs read ``time_zone``.
        "location": (
            {"timezone": device.time_zone, "time_zone": device.time_zone}
            if device.time_zone
            else None
        ),
        "device_manufacturer": {"manufacturer": manufacturer, "display_name": manufacturer},
        "device_provider": {"device_provider_name": manufacturer},
        "properties": properties,
        "capabilities_supported": ["access_code", "lock"],
        **_flags(model),
    }


def action_attempt_view(attempt: ActionAttempt) -> dict[str, Any]:
    """OAS ``action_attempt``: all five keys always present (R8, R9)."""
    return {
        "action_attempt_id": attempt.action_attempt_id,
        "action_type": attempt.action_type,
        "status": attempt.status,
        "result": attempt.result,
        "error": attempt.error,
    }


def workspace_view(workspace: Workspace) -> dict[str, Any]:
    """OAS ``workspace`` (R14)."""
    return {
        "workspace_id": workspace.workspace_id,
        "name": workspace.name,
        "company_name": workspace.company_name,
        "connect_partner_name": workspace.company_name,
        "is_sandbox": workspace.is_sandbox,
        "is_suspended": False,
        "is_publishable_key_auth_enabled": False,
        "connect_webview_customization": {
            "inviter_logo_url": None,
            "logo_shape": None,
            "primary_button_color": None,
            "primary_button_text_color": None,
            "success_message": None,
        },
    }
