"""The heart of reconciliation, as a pure function: desired codes + reported slots → plan.

No I/O here. Given what the database wants and what the lock reports at ``now``, decide
for each code its status, which set/remove operation (if any) to send, and when the
device next needs a look. Time-bound starts and ends, deletions, retries and restores
all come out of this one comparison (ARCHITECTURE decision 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pinwarden.devices.driver import SlotOp as Op
from pinwarden.domain.windows import belongs_on_lock, is_finished, next_transition

OpKind = Literal["set", "remove"]


@dataclass(frozen=True)
class CodeState:
    """A managed access code as the reconciler sees it."""

    access_code_id: str
    revision: int
    code: str | None
    name: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    deleted: bool
    status: str
    slot: int | None
    op_kind: str | None
    op_revision: int | None
    op_settles_at: datetime | None
    was_on_device: bool
    slot_code: str | None = None
    is_external_modification_allowed: bool = False
    # Loaded onto the lock with its window, ahead of time (R128–R129).
    native: bool = False
    is_scheduled_on_device: bool = False
    # An offline code: the lock checks it by itself, nothing is ever programmed (R179).
    offline: bool = False

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """The window the lock itself enforces, for natively scheduled codes."""
        if self.native and self.starts_at is not None and self.ends_at is not None:
            return self.starts_at, self.ends_at
        return None


@dataclass(frozen=True)
class Held:
    """What one slot of the lock reports."""

    code: str | None
    window: tuple[datetime, datetime] | None = None


@dataclass
class Decision:
    """What becomes of one code. ``status`` None means the record is gone for good."""

    access_code_id: str
    revision: int
    status: str | None
    slot: int | None
    was_on_device: bool
    op: Op | None = None
    keep_op: bool = False
    became_set: bool = False
    scheduled: bool = False
    became_scheduled: bool = False
    removed_from_device: bool = False
    no_space: bool = False
    # An operation the lock acknowledged has settled without taking effect.
    unconfirmed: bool = False
    # Someone changed ("modified") or deleted ("removed") the code at the lock (R145).
    external_change: str | None = None
    # The PIN found at the lock, kept because external modification is allowed (R147).
    adopted_code: str | None = None
    # The PIN is already in a slot pinwarden does not manage; programming it would clash.
    duplicate: bool = False


@dataclass
class DevicePlan:
    """Decisions for every code on one device, and the next time it needs attention."""

    wake_at: datetime
    decisions: list[Decision] = field(default_factory=list)

    def wake_no_later_than(self, instant: datetime | None) -> None:
        """Bring the next look forward to ``instant`` if that is sooner."""
        if instant is not None and instant < self.wake_at:
            self.wake_at = instant


def _op_in_flight_any(code: CodeState, kind: OpKind, now: datetime) -> bool:
    """An operation of ``kind`` sent for any revision that has not settled yet."""
    return code.op_kind == kind and code.op_settles_at is not None and now < code.op_settles_at


def _op_in_flight(code: CodeState, kind: OpKind, now: datetime) -> bool:
    """An operation of ``kind`` sent for the current revision that has not settled yet."""
    return _op_in_flight_any(code, kind, now) and code.op_revision == code.revision


def _settled_without_effect(code: CodeState, kind: OpKind, now: datetime) -> bool:
    """An operation of ``kind`` sent for the current revision has settled (and yet the
    caller found its effect missing)."""
    return (
        code.op_kind == kind
        and code.op_revision == code.revision
        and code.op_settles_at is not None
        and now >= code.op_settles_at
    )


def _holds(held: Held | None, code: CodeState) -> bool:
    """Whether the slot holds ``code`` as wanted. A lock that hides PINs is trusted to hold
    the PIN it last acknowledged for that slot."""
    if held is None or held.window != code.window:
        return False
    return held.code == code.code or (held.code is None and code.slot_code == code.code)


def _changed_at_lock(code: CodeState) -> bool:
    """The code was confirmed on the lock, nothing of ours is in flight, and yet the slot
    no longer holds it (the caller has checked that)."""
    confirmed = code.status == "set" or code.is_scheduled_on_device
    return confirmed and code.slot is not None and code.op_kind is None and code.was_on_device


def plan_device(
    codes: list[CodeState],
    slots: dict[int, Held],
    now: datetime,
    lead_time: timedelta,
    native_lead_time: timedelta,
    slot_count: int,
    drift_check_interval: timedelta,
) -> DevicePlan:
    """Compare desired codes with what the lock's ``slots`` hold at ``now``.

    Natively scheduled codes are loaded with their window ``native_lead_time`` ahead and
    stay ``unset`` until ``starts_at``; others are programmed ``lead_time`` ahead.
    """
    plan = DevicePlan(now + drift_check_interval)
    needs_slot: list[tuple[Decision, CodeState]] = []
    owned = {c.slot for c in codes if c.slot is not None}

    for c in codes:
        if c.offline:
            finished = is_finished(c.ends_at, c.deleted, now)
            plan.decisions.append(
                Decision(c.access_code_id, c.revision, None if finished else "set", None, False)
            )
            if not finished:
                plan.wake_no_later_than(c.ends_at)
            continue
        lead = native_lead_time if c.window is not None else lead_time
        wanted = belongs_on_lock(c.starts_at, c.ends_at, c.deleted, now, lead)
        held = slots.get(c.slot) if c.slot is not None else None
        # Any PIN in a slot we allocated is ours (or an edit of ours made at the lock).
        occupied = held is not None
        set_landing = _op_in_flight_any(c, "set", now)
        plan.wake_no_later_than(next_transition(c.starts_at, c.ends_at, now, lead))
        d = Decision(c.access_code_id, c.revision, c.status, c.slot, c.was_on_device)
        # A natively scheduled code is not active before its start, even when loaded.
        before_start = c.window is not None and c.starts_at is not None and now < c.starts_at

        if wanted:
            if _op_in_flight_any(c, "remove", now):
                # A removal we sent is still landing: whatever the lock shows now is about
                # to go, so wait for it before deciding.
                d.status, d.keep_op = "setting", True
                plan.wake_no_later_than(c.op_settles_at)
            elif _holds(held, c):
                d.was_on_device = True
                if before_start:
                    d.status, d.scheduled = "unset", True
                    d.became_scheduled = not c.is_scheduled_on_device
                else:
                    d.status, d.scheduled = "set", c.window is not None
                    d.became_set = c.status != "set"
            elif _op_in_flight(c, "set", now):
                d.status, d.keep_op = ("unset" if before_start else "setting"), True
                plan.wake_no_later_than(c.op_settles_at)
            elif _changed_at_lock(c) and c.is_external_modification_allowed:
                # Honour the lock: keep a PIN edited there, forget a code deleted there.
                d.external_change = "removed" if held is None else "modified"
                if held is None or held.code is None:
                    d.status, d.slot = None, None
                else:
                    d.status, d.adopted_code = c.status, held.code
            else:
                if _changed_at_lock(c):
                    d.external_change = "removed" if held is None else "modified"
                d.status = "unset" if before_start else "setting"
                d.unconfirmed = _settled_without_effect(c, "set", now)
                clashes = [n for n, h in slots.items() if n != c.slot and h.code == c.code]
                if clashes:
                    # Never program a PIN the lock already holds elsewhere. Our own earlier
                    # code with that PIN is on its way out (its end wakes us); anything else
                    # is reported and waits for a change (R150).
                    d.duplicate = any(n not in owned for n in clashes)
                elif c.slot is None:
                    needs_slot.append((d, c))
                elif c.code is not None:
                    d.op = Op("set", c.slot, c.code, c.name, c.window)
        elif set_landing:
            # A set we sent may still land; remove only once the lock has settled.
            d.status, d.keep_op = ("removing" if c.was_on_device or c.deleted else "unset"), True
            plan.wake_no_later_than(c.op_settles_at)
        elif occupied and c.slot is not None:
            d.status = "removing"
            if _op_in_flight(c, "remove", now):
                d.keep_op = True
                plan.wake_no_later_than(c.op_settles_at)
            else:
                d.unconfirmed = _settled_without_effect(c, "remove", now)
                # Only what the read saw there: a stale pass never clears a PIN that
                # replaced it meanwhile (None when the lock hides PINs).
                d.op = Op("remove", c.slot, held.code if held is not None else None)
        elif is_finished(c.ends_at, c.deleted, now):
            d.status, d.slot = None, None
            d.removed_from_device = c.was_on_device
        else:
            # Off the lock and still on record: between a recurring code's occurrences,
            # or a window moved later (``removed_from_device`` says it left the lock).
            d.removed_from_device = c.was_on_device
            d.status, d.slot, d.was_on_device = "unset", None, False
        plan.decisions.append(d)

    # Slots are handed out after every code has said which one it keeps, so a slot
    # freed in this very pass is usable at once.
    taken = set(slots) | {d.slot for d in plan.decisions if d.slot is not None}
    free = (n for n in range(1, slot_count + 1) if n not in taken)
    for d, c in needs_slot:
        slot = next(free, None)
        if slot is None:
            d.no_space = True
        elif c.code is not None:
            d.slot = slot
            d.op = Op("set", slot, c.code, c.name, c.window)
    return plan
