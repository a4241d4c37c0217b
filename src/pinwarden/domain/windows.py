"""Time windows of access codes: type, validation, and when a code belongs on the lock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pinwarden.domain.errors import RuleViolation

CodeType = Literal["ongoing", "time_bound"]


def code_type(starts_at: datetime | None, ends_at: datetime | None) -> CodeType:
    """Both ends set → time-bound; neither → ongoing."""
    return "time_bound" if starts_at is not None and ends_at is not None else "ongoing"


def validate_window(
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    start_must_be_future: bool = False,
) -> None:
    """Raise :class:`RuleViolation` unless the window is acceptable (R57–R59)."""
    if (starts_at is None) != (ends_at is None):
        missing = "ends_at" if ends_at is None else "starts_at"
        raise RuleViolation(
            "Both starts_at and ends_at must be provided for a time-bound access code, "
            "or neither for an ongoing one",
            missing,
        )
    if starts_at is None or ends_at is None:
        return
    if ends_at <= starts_at:
        raise RuleViolation("ends_at must be later than starts_at", "ends_at")
    if ends_at <= now:
        raise RuleViolation("ends_at must be in the future", "ends_at")
    if start_must_be_future and starts_at <= now:
        raise RuleViolation(
            "starts_at must be in the future on this device (start_date_in_future)", "starts_at"
        )


def programming_starts_at(starts_at: datetime, lead_time: timedelta) -> datetime:
    """When just-in-time programming of a time-bound code begins (R130)."""
    return starts_at - lead_time


def belongs_on_lock(
    starts_at: datetime | None,
    ends_at: datetime | None,
    deleted: bool,
    now: datetime,
    lead_time: timedelta,
) -> bool:
    """Whether a code should be programmed on the lock at ``now``."""
    if deleted:
        return False
    if starts_at is None or ends_at is None:
        return True
    return programming_starts_at(starts_at, lead_time) <= now < ends_at


def is_finished(ends_at: datetime | None, deleted: bool, now: datetime) -> bool:
    """Deleted, or past its window: the code is on its way out for good."""
    return deleted or (ends_at is not None and now >= ends_at)


def next_transition(
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    lead_time: timedelta,
) -> datetime | None:
    """The next instant after ``now`` at which a code's state can change: programming
    starts, the window opens (a pre-loaded code turns ``set``), or it closes."""
    if starts_at is None or ends_at is None:
        return None
    for boundary in (programming_starts_at(starts_at, lead_time), starts_at, ends_at):
        if boundary > now:
            return boundary
    return None


def resolve_update_window(
    current_starts: datetime | None,
    current_ends: datetime | None,
    supplied: dict[str, datetime | None],
    requested_type: CodeType | None,
) -> tuple[datetime | None, datetime | None]:
    """The window after an update (seed "Modifying access codes", R81–R84).

    ``supplied`` holds only the timestamps present in the request (None = explicit null).
    ``type: ongoing`` clears both timestamps; supplying both converts an ongoing code
    to time-bound; ``type: time_bound`` needs a complete window.
    """
    if requested_type == "ongoing":
        if any(value is not None for value in supplied.values()):
            raise RuleViolation("starts_at and ends_at cannot be set when type is ongoing", "type")
        return None, None
    starts = supplied.get("starts_at", current_starts)
    ends = supplied.get("ends_at", current_ends)
    if requested_type == "time_bound" and (starts is None or ends is None):
        raise RuleViolation("A time_bound access code needs both starts_at and ends_at", "type")
    return starts, ends


def status_before_confirmation(
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    lead_time: timedelta,
    native: bool,
) -> str:
    """A code's status until the lock has answered: ``setting`` once it is being
    programmed to be usable now, else ``unset`` (T1–T3; natively loaded codes stay
    ``unset`` until their start, R129)."""
    if starts_at is None or ends_at is None:
        return "setting"
    if now < starts_at and (native or now < programming_starts_at(starts_at, lead_time)):
        return "unset"
    return "setting"
