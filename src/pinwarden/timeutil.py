"""Timestamp helpers shared by every layer."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """Seam's wire format: ISO-8601 UTC with milliseconds and ``Z`` (spec R17)."""
    if value is None:
        return None
    # isoformat truncates to milliseconds as the old strftime did, several times faster.
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
