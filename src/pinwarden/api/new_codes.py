"""Building blocks shared by the routes that create and change managed access codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pinwarden.api.checks import check_name
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input
from pinwarden.api.lookup import new_action_attempt
from pinwarden.domain.codes import CodeRules
from pinwarden.domain.issues import has_error
from pinwarden.domain.recurrence import occurrence_at, parse_recurrence, window_at
from pinwarden.domain.windows import belongs_on_lock, status_before_confirmation, validate_window
from pinwarden.engine.backup_pool import EMPTY, show_empty
from pinwarden.store.events import record_event
from pinwarden.store.notify import request_reconcile
from pinwarden.store.tables import AccessCode, ActionAttempt, Device
from pinwarden.store.views import access_code_view


def code_view(code: AccessCode, device: Device, now: datetime | None = None) -> dict[str, Any]:
    """The view of ``code`` with the errors and backup pool of its ``device`` (R140, R177)."""
    return access_code_view(code, *device_facts(device.errors, device.backup_pool_enabled), now=now)


def device_facts(errors: list[dict[str, Any]], pool_enabled: bool) -> tuple[list[Any], bool]:
    """What a code shows of its device: its errors, and whether a backup is ready."""
    return list(errors), pool_enabled and not has_error(errors, EMPTY)


def enable_backup_pool(session: Session, device: Device, now: datetime) -> None:
    """``use_backup_access_code_pool: true`` turns the device's pool on, for good (R175)."""
    if not device.caps.supports_backup_access_code_pool:
        raise invalid_input(
            "This device does not support a backup access code pool",
            "use_backup_access_code_pool",
        )
    if not device.backup_pool_enabled:
        device.backup_pool_enabled = True
        show_empty(device, now)  # until the reconciler has a spare on the lock (R176)
        request_reconcile(session, device.device_id, now)


def pending_status(code: AccessCode, device: Device, now: datetime, ctx: RequestContext) -> str:
    """Status right after a create or a change of PIN or window (T1–T3, T10)."""
    settings = ctx.services.settings
    model = device.caps
    native = (
        model.schedules_natively(device.time_zone)
        and code.prefer_native_scheduling
        and code.recurrence is None
    )
    lead = settings.native_preload if native else settings.programming_lead_time
    # A recurring code is as time-bound as its current or next occurrence.
    starts_at, ends_at = window_at(code.recurrence, code.starts_at, code.ends_at, now)
    if code.was_on_device and not belongs_on_lock(starts_at, ends_at, False, now, lead):
        return "removing"
    return status_before_confirmation(
        starts_at, ends_at, now, settings.programming_lead_time, native
    )


@dataclass(frozen=True)
class NewCode:
    """What a create request asks for, whatever the device (create and create_multiple)."""

    name: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    external: bool
    prefer_native_scheduling: bool
    is_one_time_use: bool
    common_code_key: str | None = None
    # pinwarden extension: weekly windows, as Recurrence.to_json gives them.
    recurrence: dict[str, Any] | None = None


def check_new_code(device: Device, spec: NewCode, now: datetime) -> None:
    """The device-specific checks on a new code's window and name (R57–R65)."""
    model = device.caps
    validate_window(
        spec.starts_at,
        spec.ends_at,
        now,
        start_must_be_future="start_date_in_future" in model.constraints,
    )
    check_name(model, spec.name)


def add_code(
    ctx: RequestContext,
    session: Session,
    device: Device,
    pin: str,
    spec: NewCode,
    now: datetime,
    offline: bool = False,
) -> tuple[AccessCode, ActionAttempt]:
    """Store a new managed code with its ``created`` event and pending attempt (R69–R71);
    the caller has checked ``pin`` and holds the device's lock. An ``offline`` code is
    ``set`` from the start: the lock checks it by itself (R181)."""
    code = AccessCode(
        access_code_id=str(uuid.uuid4()),
        workspace_id=ctx.workspace_id,
        device_id=device.device_id,
        name=spec.name,
        code=pin,
        common_code_key=spec.common_code_key,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        created_at=now,
        is_external_modification_allowed=spec.external,
        prefer_native_scheduling=spec.prefer_native_scheduling,
        is_one_time_use=spec.is_one_time_use,
        is_offline_access_code=offline,
        recurrence=spec.recurrence,
        errors=[],
        warnings=[],
        revision=1,
        was_on_device=False,
    )
    code.status = "set" if offline else pending_status(code, device, now, ctx)
    session.add(code)
    record_event(
        session,
        "access_code.created",
        now,
        workspace_id=ctx.workspace_id,
        device=device,
        access_code=code,
    )
    attempt = new_action_attempt(
        session,
        ctx.workspace_id,
        "CREATE_ACCESS_CODE",
        now,
        device_id=device.device_id,
        access_code_id=code.access_code_id,
        revision=1,
    )
    request_reconcile(session, device.device_id, now)
    return code, attempt


# The shortest occurrence a recurrence may ask for: programming just in time needs a
# window long enough to be worth a trip to the lock.
MIN_OCCURRENCE = timedelta(minutes=15)


def check_recurrence(
    value: dict[str, Any] | None,
    device: Device,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    one_time: bool,
) -> dict[str, Any] | None:
    """A requested recurrence, validated for ``device`` (whose time zone it defaults to)
    and the code's overall window, in its stored form; None for none."""
    if value is None:
        return None
    if one_time:
        raise invalid_input("A one-time-use access code cannot have a recurrence", "recurrence")
    recurrence = parse_recurrence(value, device.time_zone, MIN_OCCURRENCE)
    if occurrence_at(recurrence, starts_at, ends_at, now) is None:
        raise invalid_input(
            "recurrence has no occurrence left between starts_at and ends_at", "recurrence"
        )
    return recurrence.to_json()


def device_rules(device: Device) -> CodeRules:
    """The PIN rules of ``device``, with any lengths reported for it (R107)."""
    return device.caps.rules_for(device.reported_code_lengths)
