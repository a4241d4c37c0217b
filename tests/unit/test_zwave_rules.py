"""The Z-Wave driver's pure rules: the per-node command budget, dead-node probing, and
what Access Control notifications mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pinwarden.devices.driver import AccessDenied, KeypadUnlock, ManualLockChange, SlotChanged
from pinwarden.devices.zwave_js.budget import NodeBudget
from pinwarden.devices.zwave_js.connection import shown
from pinwarden.devices.zwave_js.reports import access_control_event
from pinwarden.devices.zwave_js.slots import CachedSlot, answered, pin_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_budget_allows_per_hour_then_says_when_the_oldest_command_ages_out() -> None:
    budget = NodeBudget(per_hour=3)
    for minute in range(3):
        now = T0 + timedelta(minutes=minute)
        assert budget.spent_until(now) is None
        budget.record(now)
    assert budget.spent_until(T0 + timedelta(minutes=10)) == T0 + timedelta(hours=1)
    assert budget.spent_until(T0 + timedelta(minutes=60)) is None
    assert budget.sent_last_hour(T0 + timedelta(minutes=61)) == 1


def test_budget_asked_for_several_commands_counts_them_all() -> None:
    budget = NodeBudget(per_hour=3)
    budget.record(T0)
    budget.record(T0 + timedelta(minutes=5))
    assert budget.spent_until(T0 + timedelta(minutes=6), commands=2) == T0 + timedelta(hours=1)
    assert budget.spent_until(T0 + timedelta(minutes=6), commands=4) is not None


def test_dead_node_probes_back_off_to_the_cap_and_restart_once_alive() -> None:
    budget = NodeBudget(
        per_hour=100, probe_base=timedelta(minutes=1), probe_cap=timedelta(minutes=8)
    )
    now = T0
    delays = []
    for _ in range(6):
        assert budget.probe_due(now)
        next_at = budget.probe_failed(now)
        delays.append(next_at - now)
        assert not budget.probe_due(next_at - timedelta(seconds=1))
        now = next_at
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 8, 8)]
    budget.alive()
    assert budget.probe_due(now)
    assert budget.probe_failed(now) - now == timedelta(minutes=1)


def test_keypad_unlock_names_the_user_slot() -> None:
    event = access_control_event("h:5", 6, {"userId": 3}, T0)
    assert event == KeypadUnlock("h:5", T0, 3)
    assert access_control_event("h:5", 6, {}, T0) == KeypadUnlock("h:5", T0, None)


def test_lock_operations_map_to_seam_methods() -> None:
    assert access_control_event("a", 1, {}, T0) == ManualLockChange("a", T0, True, "manual")
    assert access_control_event("a", 2, {}, T0) == ManualLockChange("a", T0, False, "manual")
    assert access_control_event("a", 5, {}, T0) == ManualLockChange("a", T0, True, "keycode")
    assert access_control_event("a", 33, {"userId": 2}, T0) == ManualLockChange(
        "a", T0, True, "keycode"
    )
    assert access_control_event("a", 9, {}, T0) == ManualLockChange("a", T0, True, "automatic")
    assert access_control_event("a", 4, {}, T0) == ManualLockChange("a", T0, False, "unknown")


def test_keypad_programming_marks_slots_changed() -> None:
    assert access_control_event("a", 14, {"userId": 7}, T0) == SlotChanged("a", T0, 7)
    assert access_control_event("a", 13, {"userId": 7}, T0) == SlotChanged("a", T0, 7)
    assert access_control_event("a", 12, {}, T0) == SlotChanged("a", T0, None)


def test_refused_codes_and_unfollowed_events() -> None:
    assert access_control_event("a", 19, {}, T0) == AccessDenied("a", T0)
    assert access_control_event("a", 22, {}, T0) is None  # door open sensor
    assert access_control_event("a", 11, {}, T0) is None  # jammed


def test_every_status_but_available_occupies_a_slot() -> None:
    # Available, Enabled, Disabled, Messaging, Passage mode, "status not available".
    statuses = {0: False, 1: True, 2: True, 3: True, 4: True, 0xFE: True}
    for status, occupied in statuses.items():
        got = answered(5, {"userIdStatus": status, "userCode": "2580"})
        assert got is not None and got.occupied is occupied
    assert not CachedSlot(5, None, None).occupied and not CachedSlot(5, None, None).known
    assert answered(5, None) is None
    assert answered(5, {"userCode": "2580"}) is None


def test_hidden_pins_are_none() -> None:
    assert pin_of("**********") is None
    assert pin_of("") is None
    assert pin_of("0042") == "0042"


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert shown("wss://admin:hunter2@hub.local:3000/ws?token=abc") == "wss://hub.local:3000/ws"
    assert shown("ws://127.0.0.1:3000") == "ws://127.0.0.1:3000"
