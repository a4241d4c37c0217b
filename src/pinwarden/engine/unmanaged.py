"""Keeping the record of PINs pinwarden did not put on a lock (unmanaged codes, R187).

Every slot the lock reports that no managed code owns is an unmanaged code. The reconciler
calls :func:`sync_unmanaged` in the same transaction that records its pass, so the list
always matches the last read of the lock, and a requested removal finishes there too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.devices.driver import (
    DeviceRejected,
    DeviceUnavailable,
    OpOutcome,
    SlotOp,
    SlotReport,
)
from pinwarden.store.events import record_event
from pinwarden.store.tables import ActionAttempt, Device, UnmanagedAccessCode


def removals(
    session: Session, device_ids: list[str]
) -> dict[str, dict[str, tuple[int, str | None]]]:
    """Unmanaged codes whose removal was requested (``unmanaged/delete``), per device:
    device id → code id → (slot, PIN)."""
    rows = session.execute(
        select(
            UnmanagedAccessCode.device_id,
            UnmanagedAccessCode.access_code_id,
            UnmanagedAccessCode.slot,
            UnmanagedAccessCode.code,
        ).where(
            UnmanagedAccessCode.device_id.in_(device_ids),
            UnmanagedAccessCode.delete_requested_at.is_not(None),
        )
    ).all()
    found: dict[str, dict[str, tuple[int, str | None]]] = {}
    for r in rows:
        found.setdefault(r.device_id, {})[r.access_code_id] = (r.slot, r.code)
    return found


def removal_ops(
    pending: Mapping[str, tuple[int, str | None]], reported: list[SlotReport], owned: set[int]
) -> list[tuple[str, SlotOp]]:
    """A remove operation for each pending removal whose slot still holds that PIN, and
    that no managed code has taken over meanwhile."""
    held = {s.slot: s.code for s in reported}
    return [
        (uid, SlotOp("remove", slot, held[slot]))
        for uid, (slot, code) in pending.items()
        if slot in held and slot not in owned and held[slot] in (code, None)
    ]


def failed(results: Mapping[str, OpOutcome], pending: Mapping[str, object]) -> bool:
    """Whether the lock missed any removal sent for an unmanaged code (worth a back-off)."""
    return any(isinstance(results.get(uid), DeviceUnavailable) for uid in pending)


Attempts = Mapping[str, list[ActionAttempt]]


def _pending(attempts: Attempts, access_code_id: str) -> list[ActionAttempt]:
    return [a for a in attempts.get(access_code_id, []) if a.status == "pending"]


def record_refusals(
    rows: list[UnmanagedAccessCode],
    results: Mapping[str, OpOutcome],
    attempts: Attempts,
) -> None:
    """A removal the lock refused outright ends its delete request with an error; asking
    again would not help, and the code stays listed (the caller may delete again).
    ``attempts``: the pending action attempts, by code id."""
    for row in rows:
        outcome = results.get(row.access_code_id)
        if not isinstance(outcome, DeviceRejected):
            continue
        row.delete_requested_at = None
        for attempt in _pending(attempts, row.access_code_id):
            attempt.status = "error"
            attempt.error = {
                "type": "failed_to_remove_from_device",
                "message": f"The lock refused to remove the code: {outcome}",
            }


def sync_unmanaged(
    session: Session,
    device: Device,
    rows: list[UnmanagedAccessCode],
    attempts: Attempts,
    reported: list[SlotReport],
    owned: set[int],
    now: datetime,
    *,
    in_step: bool,
) -> None:
    """Bring the device's unmanaged codes (``rows``) in line with ``reported`` slots not in
    ``owned``.

    ``in_step`` is false when an API write landed during the pass: the read may predate it
    (a simulated unmanaged code, a conversion), so only updates are recorded, and
    appearances and disappearances wait for the next pass.
    """
    model = device.caps
    foreign = {s.slot: s for s in reported if s.slot not in owned}
    known = {u.slot: u for u in rows}
    for slot, row in known.items():
        report = foreign.get(slot)
        if report is not None:
            row.code, row.name = report.code, report.name or row.name
            row.starts_at, row.ends_at = report.starts_at, report.ends_at
        elif in_step or slot in owned:
            # A managed code holds the slot now: this PIN left it, whatever raced the read.
            _gone(session, device, row, _pending(attempts, row.access_code_id), now)
    if not (in_step and model.lists_unmanaged_codes):
        return
    for slot, report in foreign.items():
        if slot in known:
            continue
        add_unmanaged(
            session,
            device,
            now,
            slot,
            report.code,
            report.name,
            starts_at=report.starts_at,
            ends_at=report.ends_at,
        )


def add_unmanaged(
    session: Session,
    device: Device,
    now: datetime,
    slot: int,
    code: str | None,
    name: str | None,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    access_code_id: str | None = None,
) -> UnmanagedAccessCode:
    """Record the PIN in ``slot`` as unmanaged, with ``access_code.unmanaged.created``."""
    row = UnmanagedAccessCode(
        access_code_id=access_code_id or str(uuid.uuid4()),
        workspace_id=device.workspace_id,
        device_id=device.device_id,
        slot=slot,
        code=code,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now,
    )
    session.add(row)
    record_event(
        session,
        "access_code.unmanaged.created",
        now,
        workspace_id=device.workspace_id,
        device=device,
        access_code=row,
        code=code,
    )
    return row


def _gone(
    session: Session,
    device: Device,
    row: UnmanagedAccessCode,
    attempts: list[ActionAttempt],
    now: datetime,
) -> None:
    """The PIN left the lock: drop the record and finish any delete request for it."""
    record_event(
        session,
        "access_code.unmanaged.removed",
        now,
        workspace_id=device.workspace_id,
        device=device,
        access_code=row,
        code=row.code,
    )
    for attempt in attempts:
        attempt.status, attempt.result = "success", {}
    session.delete(row)
