"""A device's rows as a pass records its outcome: loaded once for a whole write group.

The group writer (:mod:`pinwarden.engine.writes`) runs many passes' writes in one
transaction. Each pass would select its own codes, unmanaged codes and pending attempts,
and each of those queries would first flush every change the group made so far; instead
the first pass to ask loads them for every device of the group, three queries in all.
Each device's rows are only ever changed by its own pass's write, so they stay true for
the rest of the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.store.tables import AccessCode, ActionAttempt, UnmanagedAccessCode

# session.info: the device ids whose rows a group may ask for, then the rows themselves.
GROUP_DEVICES = "pinwarden.group_devices"
_LOADED = "pinwarden.group_rows"


@dataclass
class DeviceRows:
    """What a pass's outcome is written onto."""

    codes: dict[str, AccessCode] = field(default_factory=dict)
    foreign: list[UnmanagedAccessCode] = field(default_factory=list)
    # Pending action attempts, by the (managed or unmanaged) code they are about.
    attempts: dict[str, list[ActionAttempt]] = field(default_factory=dict)


def rows_of(session: Session, device_id: str) -> DeviceRows:
    """``device_id``'s rows, read with those of the rest of its group the first time."""
    loaded: dict[str, DeviceRows] | None = session.info.get(_LOADED)
    if loaded is None or device_id not in loaded:
        ids = session.info.get(GROUP_DEVICES) or [device_id]
        loaded = session.info[_LOADED] = _load(session, ids if device_id in ids else [device_id])
    return loaded[device_id]


def _load(session: Session, device_ids: list[str]) -> dict[str, DeviceRows]:
    found = {device_id: DeviceRows() for device_id in device_ids}
    for code in session.scalars(select(AccessCode).where(AccessCode.device_id.in_(device_ids))):
        found[code.device_id].codes[code.access_code_id] = code
    for unmanaged in session.scalars(
        select(UnmanagedAccessCode).where(UnmanagedAccessCode.device_id.in_(device_ids))
    ):
        found[unmanaged.device_id].foreign.append(unmanaged)
    owner = {
        code_id: device_id
        for device_id, rows in found.items()
        for code_id in [*rows.codes, *(u.access_code_id for u in rows.foreign)]
    }
    if owner:
        for attempt in session.scalars(
            select(ActionAttempt).where(
                ActionAttempt.access_code_id.in_(list(owner)), ActionAttempt.status == "pending"
            )
        ):
            code_id = attempt.access_code_id or ""
            found[owner[code_id]].attempts.setdefault(code_id, []).append(attempt)
    return found
