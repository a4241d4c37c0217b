"""What happens at a simulated lock itself: its memory, its keypad, what it reports.

Used by the simulated driver and by the sandbox's simulate routes (people at the lock);
every function works in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from pinwarden.domain.offline_codes import FIRST_USE_WITHIN, read_offline_pin
from pinwarden.sandbox.tables import SandboxLock, SandboxLockEvent, SandboxSlot
from pinwarden.store.notify import LOCK_REPORTED
from pinwarden.store.sealed import matches


def held_at(now: datetime) -> ColumnElement[bool]:
    """Slot rows the lock holds at ``now``: written, and not yet overwritten or cleared."""
    return and_(
        SandboxSlot.visible_from <= now,
        or_(SandboxSlot.gone_at.is_(None), SandboxSlot.gone_at > now),
    )


def end_slots(session: Session, lock_id: str, slots: list[int], at: datetime) -> None:
    """Whatever the slots hold is gone from ``at`` on."""
    if not slots:
        return
    session.execute(
        update(SandboxSlot)
        .where(
            SandboxSlot.lock_id == lock_id,
            SandboxSlot.slot.in_(slots),
            or_(SandboxSlot.gone_at.is_(None), SandboxSlot.gone_at > at),
        )
        .values(gone_at=at)
    )


def report(session: Session, lock_id: str, kind: str, now: datetime, **payload: Any) -> None:
    """The lock tells its integration something (a :class:`SandboxLockEvent`); the commit
    wakes the engine's driver in whichever process runs it."""
    session.add(SandboxLockEvent(lock_id=lock_id, occurred_at=now, kind=kind, payload=payload))
    session.info[LOCK_REPORTED] = True


def edit_at_keypad(
    session: Session,
    lock_id: str,
    slot: int,
    code: str | None,
    now: datetime,
    name: str | None = None,
    tell: bool = True,
) -> None:
    """Someone at the lock changes the PIN in ``slot`` (or deletes it, ``code`` None; or
    programs an empty slot, naming it ``name``), effective at once. With ``tell`` the
    lock reports that the slot changed (not how); without, it keeps quiet."""
    current = session.scalars(
        select(SandboxSlot)
        .where(SandboxSlot.lock_id == lock_id, SandboxSlot.slot == slot, held_at(now))
        .order_by(SandboxSlot.visible_from.desc())
    ).first()
    end_slots(session, lock_id, [slot], now)
    if code is not None:
        session.add(
            SandboxSlot(
                lock_id=lock_id,
                slot=slot,
                code=code,
                name=current.name if current is not None else name,
                starts_at=current.starts_at if current is not None else None,
                ends_at=current.ends_at if current is not None else None,
                visible_from=now,
            )
        )
    if tell:
        report(session, lock_id, "SlotChanged", now, slot=slot)


def keypad_accepts(session: Session, lock_id: str, code: str, now: datetime) -> int | None:
    """The slot whose PIN opens the lock right now (inside its native window, if any)."""
    rows = session.scalars(
        select(SandboxSlot).where(
            SandboxSlot.lock_id == lock_id, matches(SandboxSlot.code_digest, code), held_at(now)
        )
    ).all()
    for row in rows:
        if row.starts_at is None or row.ends_at is None or row.starts_at <= now < row.ends_at:
            return row.slot
    return None


def occupied_slots(session: Session, lock_id: str, now: datetime) -> dict[int, str]:
    """Every slot that holds a PIN now or will once a pending write lands, with its PIN
    (the latest write's, where one is still landing)."""
    rows = session.execute(
        select(SandboxSlot.slot, SandboxSlot.code)
        .where(
            SandboxSlot.lock_id == lock_id,
            or_(SandboxSlot.gone_at.is_(None), SandboxSlot.gone_at > now),
        )
        .order_by(SandboxSlot.visible_from)
    ).all()
    return {r.slot: r.code for r in rows}


def keypad_accepts_offline(lock: SandboxLock, secret: str | None, code: str, now: datetime) -> bool:
    """Whether the lock, with its key ``secret`` and its own clock, reads ``code`` as an
    offline PIN valid now. It remembers PINs once used: a one-time PIN works once, and a
    longer one only if first used within 24 hours of its start (R183)."""
    if secret is None:
        return False
    window = read_offline_pin(bytes.fromhex(secret), code, now)
    if window is None or not window.starts_at <= now < window.ends_at:
        return False
    seen = code in lock.used_offline_pins
    if window.kind == "one_time" and seen:
        return False
    if not seen and now >= window.starts_at + FIRST_USE_WITHIN:
        return False
    if not seen:
        lock.used_offline_pins = [*lock.used_offline_pins, code]
    return True


def enter_pin(
    session: Session, lock: SandboxLock, code: str, now: datetime, offline_secret: str | None
) -> None:
    """Someone types ``code`` at the keypad: a PIN the lock holds (in its window) opens it
    and the lock reports the slot; an offline PIN it reads with ``offline_secret`` opens it
    and it reports the PIN; anything else is refused."""
    slot = keypad_accepts(session, lock.lock_id, code, now)
    if slot is not None:
        report(session, lock.lock_id, "KeypadUnlock", now, slot=slot, code=code)
    elif keypad_accepts_offline(lock, offline_secret, code, now):
        report(session, lock.lock_id, "KeypadUnlock", now, slot=None, code=code)
    else:
        report(session, lock.lock_id, "AccessDenied", now)
