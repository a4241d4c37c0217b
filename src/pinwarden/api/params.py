"""Reusable parameter types for the Seam routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from pinwarden.domain.localtime import is_time_zone
from pinwarden.timeutil import as_utc


def _uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise PydanticCustomError("invalid_uuid", "Invalid uuid") from None


Id = Annotated[str, AfterValidator(_uuid)]
"""A UUID parameter, validated (R16) and handed to handlers as a string."""

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _instant(value: datetime) -> datetime:
    try:
        instant: datetime | None = as_utc(value)
    except OverflowError:  # an offset pushed it past year 9999
        instant = None
    if instant is None or not _EARLIEST <= instant < _LATEST:
        raise PydanticCustomError("datetime_range", "Timestamp must be between 1970 and 9000")
    return instant


Timestamp = Annotated[datetime, AfterValidator(_instant)]
"""Any ISO-8601 instant between 1970 and 9000; normalized to UTC (R18)."""

Pin = Annotated[str, StringConstraints(pattern=r"^[0-9]+$", min_length=4, max_length=9)]
"""A PIN as the create/update routes accept it: ASCII digits only (R172)."""

KeypadEntry = Annotated[str, StringConstraints(pattern=r"^[0-9]+$", min_length=1, max_length=20)]
"""Digits typed at a keypad: anything a person can type, offline PINs (10 digits) included."""

SimulatedPin = Annotated[str, StringConstraints(pattern=r"^[0-9]+$", min_length=4, max_length=8)]
"""A PIN typed in at a sandbox keypad (simulate/create_unmanaged_access_code, R113)."""

Text = Annotated[str, StringConstraints(max_length=500)]
"""Free text such as access-code names."""

ShortText = Annotated[str, StringConstraints(max_length=200)]
"""Keys, device names, search strings and type names."""

Limit = Annotated[int, Field(gt=0, le=1_000_000)]


def _time_zone(value: str) -> str:
    if not is_time_zone(value):
        raise PydanticCustomError(
            "invalid_time_zone", "Unknown time zone; use an IANA name such as America/New_York"
        )
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name, exactly as the time zone database spells it."""
