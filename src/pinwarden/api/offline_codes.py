"""Creating offline access codes (spec §7.7): PINs the lock checks by itself, computed from
its secret and the (rounded) window, so nothing is ever programmed onto it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input
from pinwarden.api.new_codes import NewCode, add_code, code_view
from pinwarden.domain.offline_codes import (
    FIRST_USE_WITHIN,
    VARIANCES,
    offline_pin,
    offline_window,
)
from pinwarden.store.events import record_event
from pinwarden.store.tables import AccessCode, Device
from pinwarden.store.views import action_attempt_view
from pinwarden.timeutil import iso

FIRST_USE_WARNING = "igloo_algopin_must_be_used_within_24_hours"


@dataclass(frozen=True)
class OfflineRequest:
    """The parts of a create request that matter for an offline code."""

    name: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    max_time_rounding: Literal["1hour", "1day"]
    one_time: bool


def device_secret(device: Device) -> bytes:
    """The device's offline-code key, made on first use."""
    if device.offline_code_secret is None:
        device.offline_code_secret = secrets.token_hex(32)
    return bytes.fromhex(device.offline_code_secret)


def create_offline(
    ctx: RequestContext, session: Session, device: Device, request: OfflineRequest
) -> dict[str, Any]:
    """Add an offline code to ``device`` (locked by the caller) and answer as create does.

    The code is ``set`` at once: its PIN is known and the lock needs nothing (R181). Codes
    with the same window take the next variance; when all are used, the request is refused
    (igloohome allows three per hour or day, five one-time codes per start, R183).
    """
    model = device.caps
    if not model.can_program_offline_access_codes:
        raise invalid_input(
            "This device cannot program offline access codes", "is_offline_access_code"
        )
    now = ctx.services.clock.now()
    window = offline_window(
        request.starts_at, request.ends_at, request.max_time_rounding, request.one_time
    )
    if window.ends_at <= now:
        raise invalid_input("The offline code's window has already ended", "ends_at")
    # Valid: only now does the request spend the device's create budget (R51).
    ctx.services.rate_limits.check(session, "create", device.device_id)
    key = device_secret(device)
    taken = set(
        session.scalars(
            select(AccessCode.code).where(
                AccessCode.device_id == device.device_id,
                AccessCode.is_offline_access_code.is_(True),
            )
        )
    )
    pin = next(
        (
            p
            for p in (offline_pin(key, window, v) for v in range(VARIANCES[window.kind]))
            if p not in taken
        ),
        None,
    )
    if pin is None:
        raise invalid_input(
            "No more offline codes can be made for this window "
            "(igloohome_offline_access_code_no_variance_available)",
            "starts_at",
        )
    spec = NewCode(
        name=request.name,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        external=False,
        prefer_native_scheduling=False,
        is_one_time_use=request.one_time,
    )
    code, attempt = add_code(ctx, session, device, pin, spec, now, offline=True)
    if window.kind != "one_time" and window.ends_at - window.starts_at > FIRST_USE_WITHIN:
        code.warnings = [
            {
                "warning_code": FIRST_USE_WARNING,
                "message": "The code must be used for the first time within 24 hours of its "
                "start, or the lock will refuse it",
                "created_at": iso(now),
            }
        ]
    record_event(
        session,
        "access_code.set_on_device",
        now,
        workspace_id=ctx.workspace_id,
        device=device,
        access_code=code,
        code=pin,
    )
    attempt.status, attempt.result = "success", {}
    session.flush()
    return {
        "access_code": code_view(code, device),
        "action_attempt": action_attempt_view(attempt),
    }
