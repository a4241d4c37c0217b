"""Door commands (``locks/lock_door``, ``locks/unlock_door``) as the reconciler runs them.

The API only queues a pending ``LOCK_DOOR`` / ``UNLOCK_DOOR`` action attempt and makes
the device due; the device's next pass, which owns the lock through its lease, carries
the attempts out oldest first, each with one :meth:`Driver.set_locked` call, and records
each outcome in its own fenced transaction: the attempt's status, ``devices.locked`` and
a ``lock.locked`` / ``lock.unlocked`` event (``method: seamapi``).

A door command is tried once. Someone is waiting on it (the SDK polls for 5 s, R54), so
a lock that cannot be reached fails the attempt at once with a clear error rather than
retrying it later; and a command that could not even be tried within
:data:`EXPIRES_AFTER` (no worker running, a pass stuck on a slow lock) is failed as
expired instead of moving the bolt long after anyone asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.devices.driver import DeviceRejected, DeviceUnavailable, OpAck, OpOutcome
from pinwarden.store.events import record_event
from pinwarden.store.tables import ActionAttempt, Device

# Action type → the bolt position it asks for.
DOOR_ACTIONS = {"LOCK_DOOR": True, "UNLOCK_DOOR": False}
# A door command not carried out this long after it was queued is failed, never run.
EXPIRES_AFTER = timedelta(seconds=30)

# Why a command was failed without being sent to the lock.
Unsent = Literal["expired", "account_disconnected"]


@dataclass(frozen=True)
class DoorCommand:
    """One pending door attempt, as the pass's snapshot saw it."""

    action_attempt_id: str
    locked: bool
    created_at: datetime


def pending(session: Session, device_ids: list[str]) -> dict[str, list[DoorCommand]]:
    """Each device's pending door attempts, in the order they were asked for.

    ``revision`` holds the device's ``wake_seq`` when each was queued: creation times
    can tie (and a fake clock stands still), the sequence cannot.
    """
    rows = session.execute(
        select(
            ActionAttempt.device_id,
            ActionAttempt.action_attempt_id,
            ActionAttempt.action_type,
            ActionAttempt.created_at,
        )
        .where(
            ActionAttempt.device_id.in_(device_ids),
            ActionAttempt.status == "pending",
            ActionAttempt.action_type.in_(list(DOOR_ACTIONS)),
        )
        .order_by(ActionAttempt.revision, ActionAttempt.created_at)
    ).all()
    found: dict[str, list[DoorCommand]] = {}
    for r in rows:
        found.setdefault(r.device_id or "", []).append(
            DoorCommand(r.action_attempt_id, DOOR_ACTIONS[r.action_type], r.created_at)
        )
    return found


def expired(command: DoorCommand, now: datetime) -> bool:
    """Whether ``command`` is too old to carry out now."""
    return now - command.created_at > EXPIRES_AFTER


def _failure(command: DoorCommand, outcome: OpOutcome | Unsent) -> dict[str, str]:
    """The attempt's ``error`` for an outcome that is not an acknowledgement (or for a
    reason it was never sent: ``expired``, ``account_disconnected``)."""
    verb = "lock" if command.locked else "unlock"
    match outcome:
        case DeviceUnavailable():
            return {
                "type": outcome.error_code,
                "message": f"Could not {verb} the door: the lock is unreachable ({outcome})",
            }
        case DeviceRejected():
            return {
                "type": "action_rejected_by_device",
                "message": f"Could not {verb} the door: the lock refused ({outcome})",
            }
        case "expired":
            return {
                "type": "action_attempt_expired",
                "message": f"Could not {verb} the door: the request was not carried out "
                f"within {int(EXPIRES_AFTER.total_seconds())} seconds",
            }
        case _:
            return {
                "type": "account_disconnected",
                "message": f"Could not {verb} the door: the account the lock is connected "
                "through is disconnected",
            }


def record(
    session: Session,
    device: Device,
    command: DoorCommand,
    outcome: OpOutcome | Unsent,
    now: datetime,
) -> None:
    """Finish ``command`` (in the pass's fenced transaction): success moves the device's
    bolt and records the lock event; anything else fails the attempt with its reason."""
    attempt = session.get(ActionAttempt, command.action_attempt_id, with_for_update=True)
    if attempt is None or attempt.status != "pending":
        return  # gone with a sandbox reset, or already finished
    if not isinstance(outcome, OpAck):
        attempt.status, attempt.error = "error", _failure(command, outcome)
        return
    result: dict[str, Any] = {"was_confirmed_by_device": outcome.confirmed}
    attempt.status, attempt.result = "success", result
    device.locked = command.locked
    record_event(
        session,
        "lock.locked" if command.locked else "lock.unlocked",
        now,
        workspace_id=device.workspace_id,
        device=device,
        method="seamapi",
        action_attempt_id=command.action_attempt_id,
    )
