"""Errors as Seam lists them on codes and devices: plain dicts keyed by ``error_code``."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from pinwarden.timeutil import iso

Issue = dict[str, Any]


# The errors a lock shows while it cannot be reached (spec §5.1).
UNREACHABLE_ERRORS = frozenset({"device_offline", "hub_disconnected"})


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
