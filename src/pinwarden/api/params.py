"""Reusable parameter types for the Seam routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from pinwarden.timeutil import as_utc


def _uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise PydanticCustomError("invalid_uuid", "Invalid uuid") from None


Id = Annotated[str, AfterValidator(_uuid)]
"""A UUID parameter, validated (R16) and handed to handlers as a string."""

Timestamp = Annotated[datetime, AfterValidator(as_utc)]
"""Any ISO-8601 instant; normalized to UTC (R18)."""

Pin = Annotated[str, StringConstraints(pattern=r"^\d+$", min_length=4, max_length=9)]
"""A PIN as the create/update routes accept it (R172)."""

Limit = Annotated[int, Field(gt=0)]
