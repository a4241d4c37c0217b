"""The seed flows and a lock's life, through the official SDK, on a Z-Wave lock of the
real Z-Wave JS stack: what matters is the lock's own user-code memory, read through the
mock's control API, not what pinwarden or zwave-js believe."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.zwave.conftest import EMPTY_NODE, SEEDED_NODE, ZWaveHarness, eventually
from tests.zwave_stack import ZWaveStack

SERVER_LOGGERS = {"pinwarden", "uvicorn", "zwave_js_server"}


def test_ongoing_code_is_set_changed_and_removed_on_the_lock(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    code = zwave.seam.access_codes.create(device_id=device_id, name="Resident", code="1357")
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the code to be set")
    assert zwave.slot_of(EMPTY_NODE, "1357") is not None

    zwave.seam.access_codes.update(access_code_id=code.access_code_id, code="97531")
    eventually(lambda: zwave.slot_of(EMPTY_NODE, "97531"), "the new PIN on the lock")
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the update to be set")
    assert zwave.slot_of(EMPTY_NODE, "1357") is None

    zwave.seam.access_codes.delete(access_code_id=code.access_code_id)
    eventually(lambda: zwave.stack.codes(EMPTY_NODE) == {}, "the lock to be empty")
    assert zwave.events("access_code.set_on_device", access_code_id=code.access_code_id)
    eventually(
        lambda: zwave.events("access_code.removed_from_device", access_code_id=code.access_code_id),
        "access_code.removed_from_device",
    )


def test_time_bound_code_is_on_the_lock_only_within_its_window(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    # Wide enough that a loaded machine can't miss the window between two polls.
    starts_at = datetime.now(UTC) + timedelta(seconds=3)
    ends_at = starts_at + timedelta(seconds=8)
    code = zwave.seam.access_codes.create(
        device_id=device_id,
        name="Guest",
        code="2468",
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    assert zwave.status(code.access_code_id) == "unset"
    assert zwave.slot_of(EMPTY_NODE, "2468") is None
    eventually(lambda: zwave.slot_of(EMPTY_NODE, "2468"), "the guest code at starts_at")
    on_at = datetime.now(UTC)
    assert on_at >= starts_at
    eventually(lambda: zwave.slot_of(EMPTY_NODE, "2468") is None, "the guest code gone")
    off_at = datetime.now(UTC)
    assert off_at >= ends_at
    # Figures for the note come from bench/zwave_bench.py; here only the order matters.
    assert on_at < ends_at


def test_codes_on_the_lock_before_onboarding_are_kept_and_listed_unmanaged(
    zwave: ZWaveHarness,
) -> None:
    device_id = zwave.devices[SEEDED_NODE]
    listed = eventually(
        lambda: sorted(
            str(u.code) for u in zwave.seam.access_codes.unmanaged.list(device_id=device_id)
        ),
        "the lock's codes listed",
    )
    assert listed == ["4321", "907856"]
    assert zwave.stack.codes(SEEDED_NODE) == {3: "4321", 7: "907856"}
    # pinwarden's own codes go into other slots and leave the lock's alone.
    code = zwave.seam.access_codes.create(device_id=device_id, name="New", code="1122")
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the new code set")
    assert zwave.stack.codes(SEEDED_NODE).items() >= {3: "4321", 7: "907856"}.items()


def test_keypad_unlocks_name_the_code_used(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    code = zwave.seam.access_codes.create(device_id=device_id, name="Walker", code="8642")
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the code to be set")
    slot = zwave.slot_of(EMPTY_NODE, "8642")
    assert slot is not None
    zwave.stack.keypad_unlock(EMPTY_NODE, slot)
    eventually(
        lambda: zwave.seam.devices.get(device_id=device_id).properties.locked is False,
        "the device to show unlocked",
    )
    zwave.stack.manual_lock(EMPTY_NODE)
    # Reports are recorded in order: once the lock is seen locked, every unlock is in.
    eventually(lambda: zwave.events("lock.locked", device_id=device_id), "lock.locked")
    unlocked = zwave.events("lock.unlocked", device_id=device_id)
    assert [(e.method, e.access_code_id, e.access_code_is_managed) for e in unlocked] == [
        ("keycode", code.access_code_id, True)
    ]

    seeded = zwave.devices[SEEDED_NODE]
    zwave.stack.keypad_unlock(SEEDED_NODE, 3)
    foreign = eventually(lambda: zwave.events("lock.unlocked", device_id=seeded), "an unlock")
    unmanaged_id = next(
        u.access_code_id
        for u in zwave.seam.access_codes.unmanaged.list(device_id=seeded)
        if u.code == "4321"
    )
    assert [(e.access_code_id, e.access_code_is_managed) for e in foreign] == [
        (unmanaged_id, False)
    ]


def test_manual_operations_show_as_lock_events(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    zwave.stack.manual_unlock(EMPTY_NODE)
    eventually(lambda: zwave.events("lock.unlocked", device_id=device_id), "lock.unlocked")
    zwave.stack.manual_lock(EMPTY_NODE)
    locked = eventually(lambda: zwave.events("lock.locked", device_id=device_id), "lock.locked")
    assert [e.method for e in locked] == ["manual"]


def test_lock_and_unlock_door_through_door_lock_cc(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    assert zwave.stack.locked(EMPTY_NODE)
    attempt = zwave.seam.locks.unlock_door(device_id=device_id)
    assert attempt.status == "success"
    assert not zwave.stack.locked(EMPTY_NODE)
    assert zwave.seam.devices.get(device_id=device_id).properties.locked is False
    zwave.seam.locks.lock_door(device_id=device_id)
    assert zwave.stack.locked(EMPTY_NODE)
    # A later report marks the point by which any echo of the commands would be recorded.
    zwave.stack.manual_unlock(EMPTY_NODE)
    eventually(lambda: zwave.events("lock.unlocked", method="manual"), "the manual unlock")
    methods = [(e.event_type, e.method) for e in zwave.events("lock.locked")]
    methods += [(e.event_type, e.method) for e in zwave.events("lock.unlocked")]
    # The lock's own report of the command is not a second event.
    assert sorted(methods) == [
        ("lock.locked", "seamapi"),
        ("lock.unlocked", "manual"),
        ("lock.unlocked", "seamapi"),
    ]


def test_codes_changed_and_removed_at_the_keypad_are_put_back(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    edited = zwave.seam.access_codes.create(device_id=device_id, name="A", code="1111")
    removed = zwave.seam.access_codes.create(device_id=device_id, name="B", code="2222")
    for c in (edited, removed):
        eventually(lambda c=c: zwave.status(c.access_code_id) == "set", "the codes set")
    edited_slot = zwave.slot_of(EMPTY_NODE, "1111")
    removed_slot = zwave.slot_of(EMPTY_NODE, "2222")
    assert edited_slot is not None and removed_slot is not None

    zwave.stack.program_code(EMPTY_NODE, edited_slot, "9999")
    zwave.stack.delete_code(EMPTY_NODE, removed_slot)
    eventually(lambda: zwave.events("access_code.modified_external_to_seam"), "the edit noticed")
    eventually(
        lambda: (
            zwave.events(
                "access_code.deleted_external_to_seam", access_code_id=removed.access_code_id
            )
            or zwave.events(
                "access_code.modified_external_to_seam", access_code_id=removed.access_code_id
            )
        ),
        "the removal noticed",
    )
    # pinwarden's PINs are programmed again.
    eventually(
        lambda: {"1111", "2222"} <= set(zwave.stack.codes(EMPTY_NODE).values()),
        "both PINs back on the lock",
    )


def test_dead_node_shows_offline_then_catches_up_when_alive(zwave: ZWaveHarness) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    zwave.stack.set_mode(EMPTY_NODE, "dead")
    code = zwave.seam.access_codes.create(device_id=device_id, name="Late", code="3344")
    eventually(
        lambda: not zwave.seam.devices.get(device_id=device_id).properties.online,
        "the device offline",
    )
    errors = zwave.seam.devices.get(device_id=device_id).errors
    assert "device_offline" in [e.error_code for e in errors]
    assert zwave.status(code.access_code_id) == "setting"
    assert zwave.slot_of(EMPTY_NODE, "3344") is None

    zwave.stack.set_mode(EMPTY_NODE, "alive")
    # A lock speaks up when it comes back (here: someone locks it by hand).
    zwave.stack.manual_lock(EMPTY_NODE)
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the code set once alive")
    assert zwave.slot_of(EMPTY_NODE, "3344") is not None
    assert zwave.seam.devices.get(device_id=device_id).properties.online
    assert zwave.events("device.disconnected", device_id=device_id)
    assert zwave.events("device.connected", device_id=device_id)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record at DEBUG, from before the server starts (ask for it before ``zwave``)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pinwarden")
    return caplog


def test_pins_never_reach_pinwarden_logs_or_errors(
    debug_logs: pytest.LogCaptureFixture, zwave: ZWaveHarness
) -> None:
    device_id = zwave.devices[EMPTY_NODE]
    code = zwave.seam.access_codes.create(device_id=device_id, name="Secret", code="8080")
    eventually(lambda: zwave.status(code.access_code_id) == "set", "the code to be set")
    zwave.seam.access_codes.delete(access_code_id=code.access_code_id)
    eventually(lambda: zwave.slot_of(EMPTY_NODE, "8080") is None, "the code removed")
    # A lock that drops the code: the rejection shows on the code, without the PIN.
    zwave.stack.set_mode(EMPTY_NODE, "silent")
    dropped = zwave.seam.access_codes.create(device_id=device_id, name="Dropped", code="8080")
    errors = eventually(
        lambda: zwave.seam.access_codes.get(access_code_id=dropped.access_code_id).errors,
        "the rejection on the code",
    )
    assert not [e for e in errors if "8080" in str(e.message)]
    # The server's own logs: pinwarden, its web server, and the Z-Wave JS client library
    # (the SDK's HTTP client, in this process too, carries PINs by design).
    records = debug_logs.get_records("setup") + debug_logs.records
    ours = [r for r in records if r.name.split(".")[0] in SERVER_LOGGERS]
    assert ours, "nothing was logged: the check would prove nothing"
    assert not [r for r in ours if "8080" in r.getMessage()]


def test_connect_command_onboards_a_z_wave_js_server(
    database_url: str, zwave_stack: ZWaveStack, tmp_path: object
) -> None:
    # A bare environment, but for the database and the key the tests' databases are sealed with.
    env = {
        "PINWARDEN_DATABASE_URL": database_url,
        "PINWARDEN_SECRET_KEY": os.environ["PINWARDEN_SECRET_KEY"],
    }
    cli = [sys.executable, "-m", "pinwarden"]
    made = subprocess.run(
        [*cli, "workspace", "create", "Home"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    workspace_id = json.loads(made.stdout)["workspace_id"]
    done = subprocess.run(
        [*cli, "connect", "zwave-js", "--url", zwave_stack.ws_url, "--workspace", workspace_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    account_id = json.loads(done.stdout)["connected_account_id"]
    assert f"{len(zwave_stack.node_ids)} lock(s) found" in done.stderr

    refused = subprocess.run(
        [*cli, "connect", "zwave-js", "--url", "ws://127.0.0.1:9", "--workspace", workspace_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert "Could not reach" in refused.stderr
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            kept = db.execute(text("SELECT connected_account_id FROM connected_accounts")).all()
    finally:
        engine.dispose()
    assert [row[0] for row in kept] == [account_id]


def test_the_account_and_its_locks_are_listed_as_seam_lists_them(zwave: ZWaveHarness) -> None:
    account = zwave.seam.connected_accounts.get(connected_account_id=zwave.account_id)
    assert account.connected_account_id == zwave.account_id
    listed = zwave.seam.devices.list(connected_account_id=zwave.account_id)
    assert sorted(d.device_id for d in listed) == sorted(zwave.devices.values())
    assert {d.device_type for d in listed} == {"zwave_lock"}
    small = zwave.seam.devices.get(device_id=zwave.devices[4])
    assert small.can_remotely_lock and small.properties.online
    assert zwave.seam.devices.list(connected_account_ids=[]) == []
