"""Checks shared by every route that creates or changes a managed code (spec §3.1, §5.5)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.errors import SeamError, invalid_input
from pinwarden.devices.capabilities import LockCapabilities
from pinwarden.domain.codes import CodeRules, code_violations
from pinwarden.store.sealed import keys
from pinwarden.store.tables import AccessCode


def external_modification_flag(a: bool | None, b: bool | None) -> bool | None:
    """``allow_external_modification`` and its alias ``is_external_modification_allowed``
    as one value (A14); they must not disagree."""
    if a is not None and b is not None and a != b:
        raise invalid_input(
            "allow_external_modification and is_external_modification_allowed disagree",
            "allow_external_modification",
        )
    return a if a is not None else b


def check_pin(rules: CodeRules, code: str) -> None:
    """400 unless the device accepts ``code`` (§7.4)."""
    problems = code_violations(code, rules)
    if problems:
        raise invalid_input(
            "Code does not meet the device's requirements: " + "; ".join(problems), "code"
        )


def check_name(model: LockCapabilities, name: str | None) -> None:
    """400 when the name is shorter than the device allows (``name_length``)."""
    if model.name_length is not None and name is not None and len(name) < model.name_length[0]:
        raise invalid_input(
            f"name must be at least {model.name_length[0]} characters on this device (name_length)",
            "name",
        )


Window = tuple[datetime | None, datetime | None]


def overlaps(a: Window, b: Window) -> bool:
    """Whether two windows (None = open-ended) share an instant."""
    a_start, a_end = a
    b_start, b_end = b
    return (a_start is None or b_end is None or a_start < b_end) and (
        b_start is None or a_end is None or b_start < a_end
    )


def live_codes(session: Session, device_id: str, exclude: str | None = None) -> list[AccessCode]:
    """The device's managed codes that are neither deleted nor used up."""
    stmt = select(AccessCode).where(
        AccessCode.device_id == device_id,
        AccessCode.deleted_at.is_(None),
        AccessCode.used_at.is_(None),
    )
    if exclude is not None:
        stmt = stmt.where(AccessCode.access_code_id != exclude)
    return list(session.scalars(stmt).all())


def check_duplicate(
    live: list[AccessCode],
    code: str,
    window: Window,
) -> None:
    """Same PIN on the device with an overlapping window → 409 (R66, R149).

    pinwarden extension: the same PIN may be reused when the windows do not overlap.
    """
    digests = set(keys().digests(code))
    for other in live:
        if other.code_digest in digests and overlaps(window, (other.starts_at, other.ends_at)):
            raise SeamError(
                409,
                "duplicate_access_code",
                "An access code with this code already exists on the device for an "
                "overlapping time",
                data={"device_id": other.device_id, "access_code_id": other.access_code_id},
            )


def check_lookup(access_code_id: str | None, device_id: str | None, code: str | None) -> None:
    """A code is looked up by id, or by device and PIN; not both ways at once (R95, R109)."""
    if access_code_id is None:
        if device_id is None or code is None:
            raise invalid_input(
                "Provide access_code_id, or both device_id and code", "access_code_id"
            )
    elif code is not None:
        raise invalid_input("Provide either access_code_id or code, not both", "code")
