"""Window rules: type, validation, when a code belongs on the lock, update conversions."""

from datetime import UTC, datetime, timedelta

import pytest

from pinwarden.domain.errors import RuleViolation
from pinwarden.domain.windows import (
    belongs_on_lock,
    code_type,
    is_finished,
    next_transition,
    resolve_update_window,
    status_before_confirmation,
    validate_window,
)

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_type_is_derived_from_both_ends() -> None:
    assert code_type(None, None) == "ongoing"
    assert code_type(NOW, NOW + HOUR) == "time_bound"


@pytest.mark.parametrize(
    ("starts", "ends", "param"),
    [
        (NOW, None, "ends_at"),
        (None, NOW + HOUR, "starts_at"),
        (NOW + HOUR, NOW + HOUR, "ends_at"),
        (NOW + 2 * HOUR, NOW + HOUR, "ends_at"),
        (NOW - 2 * HOUR, NOW - HOUR, "ends_at"),
    ],
)
def test_invalid_windows_name_the_parameter(starts, ends, param) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleViolation) as info:
        validate_window(starts, ends, NOW)
    assert info.value.param == param


def test_start_in_the_past_is_fine_unless_the_device_forbids_it() -> None:
    validate_window(NOW - HOUR, NOW + HOUR, NOW)
    with pytest.raises(RuleViolation, match="start_date_in_future"):
        validate_window(NOW - HOUR, NOW + HOUR, NOW, start_must_be_future=True)


def test_belongs_on_lock_from_lead_time_until_end() -> None:
    starts, ends = NOW + 2 * HOUR, NOW + 5 * HOUR
    lead = HOUR
    assert not belongs_on_lock(starts, ends, False, NOW, lead)
    assert belongs_on_lock(starts, ends, False, starts - lead, lead)
    assert belongs_on_lock(starts, ends, False, ends - timedelta(seconds=1), lead)
    assert not belongs_on_lock(starts, ends, False, ends, lead)
    assert belongs_on_lock(None, None, False, NOW, lead)
    assert not belongs_on_lock(None, None, True, NOW, lead)


def test_next_transition_walks_the_boundaries() -> None:
    starts, ends = NOW + 2 * HOUR, NOW + 5 * HOUR
    assert next_transition(starts, ends, NOW, HOUR) == NOW + HOUR
    assert next_transition(starts, ends, NOW + HOUR, HOUR) == starts
    assert next_transition(starts, ends, starts, HOUR) == ends
    assert next_transition(starts, ends, ends, HOUR) is None
    assert next_transition(None, None, NOW, HOUR) is None


def test_finished_when_deleted_or_past_end() -> None:
    assert is_finished(None, True, NOW)
    assert is_finished(NOW, False, NOW)
    assert not is_finished(NOW + HOUR, False, NOW)
    assert not is_finished(None, False, NOW)


def test_ongoing_becomes_time_bound_when_both_timestamps_are_sent() -> None:
    window = resolve_update_window(None, None, {"starts_at": NOW, "ends_at": NOW + HOUR}, None)
    assert window == (NOW, NOW + HOUR)


def test_type_ongoing_clears_the_window() -> None:
    assert resolve_update_window(NOW, NOW + HOUR, {}, "ongoing") == (None, None)


def test_type_ongoing_with_timestamps_is_contradictory() -> None:
    with pytest.raises(RuleViolation):
        resolve_update_window(NOW, NOW + HOUR, {"ends_at": NOW}, "ongoing")


def test_time_bound_needs_a_complete_window() -> None:
    with pytest.raises(RuleViolation):
        resolve_update_window(None, None, {"starts_at": NOW}, "time_bound")


def test_partial_update_keeps_the_other_end() -> None:
    assert resolve_update_window(NOW, NOW + HOUR, {"ends_at": NOW + 2 * HOUR}, None) == (
        NOW,
        NOW + 2 * HOUR,
    )


def test_status_before_the_lock_answers() -> None:
    starts, ends = NOW + 3 * HOUR, NOW + 9 * HOUR
    assert status_before_confirmation(None, None, NOW, HOUR, native=False) == "setting"
    assert status_before_confirmation(starts, ends, NOW, HOUR, native=False) == "unset"
    assert status_before_confirmation(starts, ends, starts - HOUR, HOUR, native=False) == "setting"
    # Natively scheduled codes stay unset while pre-loaded, until their start.
    assert status_before_confirmation(starts, ends, starts - HOUR, HOUR, native=True) == "unset"
    assert status_before_confirmation(starts, ends, starts, HOUR, native=True) == "setting"
