"""A device's rows as a pass records its outcome: loaded once for a whole write group.

The group writer (:mod:`pinwarden.engine.writes`) runs many passes' writes in one
transaction. Each pass would select its own codes, unmanaged codes and pending attempts;
instead the first pass to ask loads them for every device of the group, three queries in
all. Each device's rows are only ever changed by its own pass's write, so they stay true for
the rest of the transaction.

Managed codes are the bulk of it (every code of every device in the group), so they are
not ORM objects: a :class:`CodeRow` is a plain copy of the row, and :func:`write_back`
sends what the group changed as a few executemany statements by primary key, only the
columns that changed, just before the group commits. A pass that changes nothing of a code
writes nothing for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from pinwarden.store.sealed import digest
from pinwarden.store.tables import AccessCode, ActionAttempt, UnmanagedAccessCode

# session.info: the device ids whose rows a group may ask for, then the rows themselves.
GROUP_DEVICES = "pinwarden.group_devices"
_LOADED = "pinwarden.group_rows"
_RESERVED = "pinwarden.group_reserved_slots"

_TABLE = cast(Table, AccessCode.__table__)
_COLUMNS = tuple(c.key for c in _TABLE.columns)


class CodeRow:
    """One managed code as the engine records onto it: every column of ``access_codes``,
    plus what it was when loaded, so :func:`write_back` sends only what changed."""

    __slots__ = (*_COLUMNS, "_loaded", "deleted")

    access_code_id: str
    workspace_id: str
    device_id: str
    name: str | None
    code: str | None
    code_digest: str | None
    common_code_key: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    status: str
    created_at: datetime
    is_external_modification_allowed: bool
    prefer_native_scheduling: bool
    is_one_time_use: bool
    is_offline_access_code: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    revision: int
    deleted_at: datetime | None
    slot: int | None
    op_kind: str | None
    op_revision: int | None
    op_settles_at: datetime | None
    was_on_device: bool
    slot_code: str | None
    pending_since: datetime | None
    is_scheduled_on_device: bool
    is_backup: bool
    pulled_backup_access_code_id: str | None
    used_at: datetime | None
    recurrence: dict[str, Any] | None
    # Set by the pass that deletes the code (it finished, or was deleted and is off the lock).
    deleted: bool

    def __init__(self, values: tuple[Any, ...]) -> None:
        for name, value in zip(_COLUMNS, values, strict=True):
            setattr(self, name, value)
        self._loaded = values
        self.deleted = False

    def changes(self) -> dict[str, Any]:
        """The columns whose values differ from the row as loaded (JSON compared by value:
        the engine always assigns a new list, never edits one in place)."""
        changed = {
            name: getattr(self, name)
            for name, old in zip(_COLUMNS, self._loaded, strict=True)
            if getattr(self, name) != old
        }
        if "code" in changed:
            # As the ORM's listener does (store/tables.py): the digest follows the PIN.
            changed["code_digest"] = digest(self.code)
        return changed


@dataclass
class DeviceRows:
    """What a pass's outcome is written onto."""

    codes: dict[str, CodeRow] = field(default_factory=dict)
    foreign: list[UnmanagedAccessCode] = field(default_factory=list)
    # Pending action attempts, by the (managed or unmanaged) code they are about.
    attempts: dict[str, list[ActionAttempt]] = field(default_factory=dict)


def rows_of(session: Session, device_id: str) -> DeviceRows:
    """``device_id``'s rows, read with those of the rest of its group the first time."""
    loaded: dict[str, DeviceRows] | None = session.info.get(_LOADED)
    if loaded is None or device_id not in loaded:
        ids = session.info.get(GROUP_DEVICES) or [device_id]
        found = _load(session, ids if device_id in ids else [device_id])
        loaded = session.info[_LOADED] = {**(loaded or {}), **found}
    return loaded[device_id]


def reserve_slots(session: Session, device_id: str, fresh: list[tuple[str, int]]) -> None:
    """Give each ``(access_code_id, slot)`` of ``fresh`` its newly allocated slot, taking
    the slot from whichever other code of the device holds it; sent with the rest of the
    group's code writes, so still before the group commits and the pass goes to the lock."""
    reserved: list[dict[str, Any]] = session.info.setdefault(_RESERVED, [])
    reserved += [{"b_device": device_id, "b_id": code, "b_slot": slot} for code, slot in fresh]


def write_back(session: Session) -> None:
    """Send the group's changes to its code rows (call once, before the group commits)."""
    reserved: list[dict[str, Any]] = session.info.pop(_RESERVED, [])
    if reserved:
        # A slot has one owner: one freed in this same pass (its code finished) is given
        # up now, not when the pass is recorded, or a pass that dies in between leaves two
        # codes in one slot, and the old one's removal would wipe the new PIN.
        session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.device_id == bindparam("b_device"),
                _TABLE.c.slot == bindparam("b_slot"),
                _TABLE.c.access_code_id != bindparam("b_id"),
            )
            .values(slot=None),
            reserved,
        )
        # A Core executemany: a code deleted since the snapshot matches no row, where the
        # ORM's bulk update by primary key would raise StaleDataError.
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.access_code_id == bindparam("b_id"))
            .values(slot=bindparam("b_slot")),
            [{"b_id": r["b_id"], "b_slot": r["b_slot"]} for r in reserved],
        )
    loaded: dict[str, DeviceRows] = session.info.pop(_LOADED, {})
    gone: list[str] = []
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for rows in loaded.values():
        for row in rows.codes.values():
            if row.deleted:
                gone.append(row.access_code_id)
                continue
            changed = row.changes()
            if changed:
                changed["b_id"] = row.access_code_id
                by_columns[tuple(sorted(changed))].append(changed)
    for params in by_columns.values():
        # A Core executemany: a code deleted since it was loaded matches no row (the API
        # cannot, the device row being locked, but a row count is not worth a failure).
        session.execute(update(_TABLE).where(_TABLE.c.access_code_id == bindparam("b_id")), params)
    if gone:
        session.execute(delete(_TABLE).where(_TABLE.c.access_code_id.in_(gone)))


def _load(session: Session, device_ids: list[str]) -> dict[str, DeviceRows]:
    found = {device_id: DeviceRows() for device_id in device_ids}
    columns = [_TABLE.c[name] for name in _COLUMNS]
    for values in session.execute(select(*columns).where(_TABLE.c.device_id.in_(device_ids))):
        code = CodeRow(tuple(values))
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
        # By device (an index walk per device), not by the group's every code id.
        for attempt in session.scalars(
            select(ActionAttempt).where(
                ActionAttempt.device_id.in_(device_ids),
                ActionAttempt.status == "pending",
                ActionAttempt.access_code_id.is_not(None),
            )
        ):
            code_id = attempt.access_code_id or ""
            if code_id in owner:
                found[owner[code_id]].attempts.setdefault(code_id, []).append(attempt)
    return found
