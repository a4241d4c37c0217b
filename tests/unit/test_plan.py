"""The pure reconcile plan: desired codes vs reported slots."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pinwarden.engine.plan import CodeState, Held, plan_device

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
LEAD = timedelta(hours=1)
NATIVE_LEAD = timedelta(hours=72)
DRIFT = timedelta(hours=1)


def state(**kw: object) -> CodeState:
    base = CodeState(
        access_code_id="a",
        revision=1,
        code="1234",
        name="n",
        starts_at=None,
        ends_at=None,
        deleted=False,
        status="setting",
        slot=None,
        op_kind=None,
        op_revision=None,
        op_settles_at=None,
        was_on_device=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def plan(  # type: ignore[no-untyped-def]
    codes: list[CodeState],
    slots: dict[int, str | Held | None],
    now: datetime = NOW,
    count: int = 10,
):
    held = {n: v if isinstance(v, Held) else Held(v) for n, v in slots.items()}
    return plan_device(codes, held, now, LEAD, NATIVE_LEAD, count, DRIFT)


def test_new_ongoing_code_gets_the_first_free_slot() -> None:
    p = plan([state()], {1: "9999"})
    d = p.decisions[0]
    assert d.status == "setting"
    assert d.op is not None and (d.op.kind, d.op.slot, d.op.code) == ("set", 2, "1234")


def test_code_reported_by_lock_is_set_once() -> None:
    d = plan([state(slot=2)], {2: "1234"}).decisions[0]
    assert (d.status, d.became_set, d.op) == ("set", True, None)
    again = plan([state(slot=2, status="set", was_on_device=True)], {2: "1234"}).decisions[0]
    assert again.became_set is False


def test_operation_in_flight_is_not_repeated_and_sets_the_wake_up() -> None:
    settles = NOW + timedelta(seconds=1)
    p = plan([state(slot=1, op_kind="set", op_revision=1, op_settles_at=settles)], {})
    d = p.decisions[0]
    assert d.op is None and d.keep_op and p.wake_at == settles


def test_stale_operation_for_an_older_revision_is_resent() -> None:
    settles = NOW + timedelta(seconds=1)
    code = state(revision=2, slot=1, op_kind="set", op_revision=1, op_settles_at=settles)
    d = plan([code], {1: "1111"}).decisions[0]
    assert d.op is not None and (d.op.kind, d.op.slot) == ("set", 1)


def test_future_time_bound_code_stays_unset_and_wakes_at_lead_time() -> None:
    starts = NOW + LEAD + timedelta(minutes=30)
    p = plan([state(starts_at=starts, ends_at=starts + LEAD, status="unset")], {})
    assert p.decisions[0].status == "unset" and p.decisions[0].op is None
    assert p.wake_at == starts - LEAD


def test_deleted_code_on_lock_is_removed_then_dropped_with_event() -> None:
    code = state(slot=3, deleted=True, status="removing", was_on_device=True)
    d = plan([code], {3: "1234"}).decisions[0]
    assert d.status == "removing" and d.op is not None and d.op.kind == "remove"
    gone = plan([code], {}).decisions[0]
    assert gone.status is None and gone.removed_from_device


def test_expired_code_never_programmed_is_dropped_silently() -> None:
    code = state(starts_at=NOW - 2 * LEAD, ends_at=NOW - LEAD, status="setting")
    d = plan([code], {}).decisions[0]
    assert d.status is None and not d.removed_from_device


def test_deleted_code_waits_for_a_set_still_landing_before_dropping() -> None:
    settles = NOW + timedelta(seconds=1)
    code = state(deleted=True, slot=4, op_kind="set", op_revision=1, op_settles_at=settles)
    p = plan([code], {})
    assert p.decisions[0].status == "removing" and p.wake_at == settles


def test_slots_of_other_codes_and_unknown_pins_are_never_reused() -> None:
    codes = [
        state(access_code_id="a", slot=1, status="set"),
        state(access_code_id="b", code="5678"),
    ]
    d = plan(codes, {1: "1234", 2: "5555"}).decisions[1]
    assert d.op is not None and d.op.slot == 3


def test_full_lock_reports_no_space() -> None:
    d = plan([state()], {1: "1111", 2: "2222"}, count=2).decisions[0]
    assert d.no_space and d.op is None and d.status == "setting"


def test_changed_pin_overwrites_its_own_slot() -> None:
    code = state(code="5678", revision=2, slot=2, status="setting", was_on_device=True)
    d = plan([code], {2: "1234"}).decisions[0]
    assert d.op is not None and (d.op.slot, d.op.code) == (2, "5678")


def test_code_moved_to_the_future_comes_off_the_lock() -> None:
    starts = NOW + 5 * LEAD
    code = state(starts_at=starts, ends_at=starts + LEAD, slot=1, status="set", was_on_device=True)
    d = plan([code], {1: "1234"}).decisions[0]
    assert d.status == "removing" and d.op is not None and d.op.kind == "remove"
    after = plan([code], {}).decisions[0]
    assert after.status == "unset" and after.slot is None


def test_converged_device_checks_for_drift_later() -> None:
    p = plan([state(slot=1, status="set", was_on_device=True)], {1: "1234"})
    assert p.wake_at == NOW + DRIFT


def native(**kw: object) -> CodeState:
    starts = NOW + timedelta(hours=100)
    return state(
        starts_at=starts, ends_at=starts + timedelta(days=2), native=True, status="unset", **kw
    )


def test_native_code_waits_for_the_preload_window() -> None:
    code = native()
    assert code.starts_at is not None
    p = plan([code], {})
    assert p.decisions[0].status == "unset" and p.decisions[0].op is None
    assert p.wake_at == NOW + DRIFT
    preload = code.starts_at - NATIVE_LEAD
    d = plan([code], {}, now=preload).decisions[0]
    assert d.status == "unset"
    assert d.op is not None and d.op.window == (code.starts_at, code.ends_at)


def test_loaded_native_code_is_scheduled_then_set_at_its_start() -> None:
    code = native(slot=1)
    assert code.starts_at is not None and code.ends_at is not None
    loaded = Held("1234", (code.starts_at, code.ends_at))
    before = plan([code], {1: loaded}, now=code.starts_at - timedelta(hours=1))
    d = before.decisions[0]
    assert (d.status, d.scheduled, d.became_scheduled, d.op) == ("unset", True, True, None)
    assert before.wake_at == code.starts_at
    again = plan([replace(code, is_scheduled_on_device=True)], {1: loaded}, now=code.starts_at)
    d = again.decisions[0]
    assert (d.status, d.became_set, d.became_scheduled) == ("set", True, False)


def test_native_code_not_loaded_by_its_start_is_setting() -> None:
    code = native()
    assert code.starts_at is not None
    d = plan([code], {}, now=code.starts_at).decisions[0]
    assert d.status == "setting" and d.op is not None


def test_a_pin_without_its_window_is_reloaded_with_it() -> None:
    code = native(slot=1)
    d = plan([code], {1: "1234"}, now=code.starts_at - timedelta(hours=1)).decisions[0]  # type: ignore[operator]
    assert d.op is not None and d.op.window is not None and d.status == "unset"


def test_a_pin_held_elsewhere_is_never_programmed_twice() -> None:
    unmanaged = plan([state()], {3: "1234"}).decisions[0]
    assert unmanaged.op is None and unmanaged.duplicate
    ours = [state(access_code_id="a", slot=1, status="set"), state(access_code_id="b")]
    waiting = plan(ours, {1: "1234"}).decisions[1]
    assert waiting.op is None and not waiting.duplicate and waiting.status == "setting"


def test_a_code_that_left_the_lock_before_its_window_stays_unset_and_says_it_left() -> None:
    later = state(
        starts_at=NOW + 5 * LEAD, ends_at=NOW + 9 * LEAD, status="removing", was_on_device=True
    )
    d = plan([later], {}).decisions[0]
    assert (d.status, d.slot, d.was_on_device, d.removed_from_device) == (
        "unset",
        None,
        False,
        True,
    )
    never = plan([replace(later, was_on_device=False, status="unset")], {}).decisions[0]
    assert (never.status, never.removed_from_device) == ("unset", False)
