"""Errors as Seam lists them on codes and devices: plain dicts keyed by ``error_code``."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from pinwarden.timeutil import iso

Issue = dict[str, Any]


# The errors a lock shows while it cannot be reached (spec §5.1), with what they say
# when the lock itself reported it (a failed pass says what failed instead).
UNREACHABLE_MESSAGES = {
    "device_offline": "Device is offline",
    "hub_disconnected": "The lock's hub is disconnected",
}
UNREACHABLE_ERRORS = frozenset(UNREACHABLE_MESSAGES)
# ``device.disconnected`` names the cause from its own enum (``device_disconnected``,
# ``hub_disconnected``, ``account_disconnected``): a lock away on its own shows the
# device error ``device_offline`` while its event says ``device_disconnected``.
_DISCONNECTED_EVENT_CODES = {"device_offline": "device_disconnected"}


def error(code: str, message: str, now: datetime, **flags: Any) -> Issue:
    """One error item (spec §1.2), with its category flag (``is_device_error`` …)."""
    return {"error_code": code, "message": message, "created_at": iso(now), **flags}


def has_error(errors: list[Issue], code: str) -> bool:
    """Whether ``errors`` holds one with ``code``."""
    return any(e.get("error_code") == code for e in errors)


def with_error(errors: list[Issue], item: Issue) -> tuple[list[Issue], bool]:
    """``errors`` plus ``item`` unless one with that code is there; and whether it was added."""
    if has_error(errors, item["error_code"]):
        return errors, False
    return [*errors, item], True


def without_errors(errors: list[Issue], codes: AbstractSet[str]) -> list[Issue]:
    """``errors`` without those whose code is in ``codes``."""
    return [e for e in errors if e.get("error_code") not in codes]


def with_unreachable(errors: list[Issue], code: str, message: str, now: datetime) -> list[Issue]:
    """``errors`` showing the lock as unreachable for reason ``code`` only; an error of
    that code already there keeps its ``created_at``."""
    kept = without_errors(errors, UNREACHABLE_ERRORS - {code})
    return with_error(kept, error(code, message, now, is_device_error=True))[0]


def disconnected_event_code(device_error: str) -> str:
    """The ``error_code`` of the ``device.disconnected`` event for a lock that shows
    ``device_error`` while away."""
    return _DISCONNECTED_EVENT_CODES.get(device_error, device_error)
