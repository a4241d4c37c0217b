"""Recurring access codes (a pinwarden extension) over HTTP: sent through the SDK's raw
client, read back through its typed calls, and invisible to clients that don't know it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seam import Seam
from seam.exceptions import SeamHttpInvalidInputError

from pinwarden.store.tables import Device
from tests.api.test_external import _lock_pins
from tests.api.test_first_run import _env, _serving
from tests.api.test_state_cli import _cli
from tests.api.test_state_cli import _json as _cli_json
from tests.conftest import Harness
from tests.pins import shows_pin
from tests.processes import free_port, sandbox_key

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
EXTENSION_FIELDS = {"recurrence", "next_occurrence_starts_at", "next_occurrence_ends_at"}
CLEANER = {
    "time_zone": "America/New_York",
    "weekly": [{"days": ["thu", "mon"], "from": "10:00", "to": "14:00"}],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def lock_of(seam: Seam, device_type: str = "smartthings_lock") -> str:
    return str(seam.devices.list(device_type=device_type)[0].device_id)


def post(seam: Seam, path: str, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = seam.client.post(path, json=body)  # type: ignore[attr-defined]
    return found


def create(seam: Seam, device_id: str, **body: Any) -> dict[str, Any]:
    view: dict[str, Any] = post(seam, "/access_codes/create", device_id=device_id, **body)[
        "access_code"
    ]
    return view


def raw_get(seam: Seam, access_code_id: str) -> dict[str, Any]:
    view: dict[str, Any] = post(seam, "/access_codes/get", access_code_id=access_code_id)[
        "access_code"
    ]
    return view


def go_to(server: Harness, instant: datetime) -> None:
    server.advance(instant - server.clock.now())


def test_a_recurring_code_is_created_shown_and_followed_through_its_occurrences(
    server: Harness,
) -> None:
    seam = server.seam()
    lock = lock_of(seam)
    go_to(server, utc("2025-01-04T12:00:00"))  # a Saturday
    view = create(seam, lock, name="Cleaner", code="5823", recurrence=CLEANER)
    cid = view["access_code_id"]
    assert view["recurrence"] == {
        "time_zone": "America/New_York",
        "weekly": [{"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}],
    }
    # Monday 10:00 EST.
    assert (view["next_occurrence_starts_at"], view["next_occurrence_ends_at"]) == (
        "2025-01-06T15:00:00.000Z",
        "2025-01-06T19:00:00.000Z",
    )
    assert (view["type"], view["status"], view["starts_at"], view["ends_at"]) == (
        "ongoing",
        "unset",
        None,
        None,
    )
    # The typed SDK reads it as an ordinary ongoing code.
    typed = seam.access_codes.get(access_code_id=cid)
    assert (typed.type, typed.status, typed.code, typed.name) == (
        "ongoing",
        "unset",
        "5823",
        "Cleaner",
    )
    listed = post(seam, "/access_codes/list", device_id=lock)["access_codes"]
    assert [c["next_occurrence_starts_at"] for c in listed] == ["2025-01-06T15:00:00.000Z"]
    assert [c.access_code_id for c in seam.access_codes.list(device_id=lock)] == [cid]

    go_to(server, utc("2025-01-06T14:00:00"))  # the programming lead time
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=cid).status == "set"
    go_to(server, utc("2025-01-06T16:00:00"))
    assert raw_get(seam, cid)["next_occurrence_starts_at"] == "2025-01-06T15:00:00.000Z"
    go_to(server, utc("2025-01-06T19:00:00"))
    server.advance(SECOND)
    after = raw_get(seam, cid)
    assert after["status"] == "unset"
    # Thursday 10:00 EST.
    assert after["next_occurrence_starts_at"] == "2025-01-09T15:00:00.000Z"
    events = [
        e.event_type
        for e in seam.events.list(since="2025-01-01T00:00:00Z")
        if e.access_code_id == cid  # type: ignore[attr-defined]
    ]
    assert events.count("access_code.set_on_device") == 1
    assert events.count("access_code.removed_from_device") == 1


def test_within_an_overall_window_a_recurring_code_is_time_bound(server: Harness) -> None:
    seam = server.seam()
    lock = lock_of(seam)
    go_to(server, utc("2025-01-04T12:00:00"))
    view = create(
        seam,
        lock,
        code="5823",
        recurrence=CLEANER,
        starts_at="2025-01-07T00:00:00Z",
        ends_at="2025-02-01T00:00:00Z",
    )
    assert (view["type"], view["starts_at"], view["ends_at"]) == (
        "time_bound",
        "2025-01-07T00:00:00.000Z",
        "2025-02-01T00:00:00.000Z",
    )
    assert view["next_occurrence_starts_at"] == "2025-01-09T15:00:00.000Z"
    assert seam.access_codes.get(access_code_id=view["access_code_id"]).type == "time_bound"


def test_the_time_zone_defaults_to_the_locks(server: Harness) -> None:
    seam = server.seam()
    lock = lock_of(seam, "ttlock_lock")  # seeded in America/Los_Angeles
    go_to(server, utc("2025-01-04T12:00:00"))
    view = create(
        seam,
        lock,
        code="2461",
        recurrence={"weekly": [{"days": ["mon"], "from": "10:00", "to": "14:00"}]},
    )
    assert view["recurrence"]["time_zone"] == "America/Los_Angeles"
    assert view["next_occurrence_starts_at"] == "2025-01-06T18:00:00.000Z"  # 10:00 PST
    with server.service.db.write() as s:
        device = s.get(Device, lock)
        assert device is not None
        device.time_zone = None
    with pytest.raises(SeamHttpInvalidInputError, match="time_zone is required"):
        create(
            seam,
            lock,
            code="2462",
            recurrence={"weekly": [{"days": ["mon"], "from": "10:00", "to": "14:00"}]},
        )


def weekly(*windows: tuple[list[str], str, str], zone: str = "America/New_York") -> Any:
    return {
        "time_zone": zone,
        "weekly": [{"days": days, "from": f, "to": t} for days, f, t in windows],
    }


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "overlapping windows": (
        {"recurrence": weekly((["mon"], "10:00", "12:00"), (["mon", "tue"], "11:00", "13:00"))},
        "overlap on mon",
    ),
    "a bad time": ({"recurrence": weekly((["mon"], "10:00", "25:00"))}, "not a time of day"),
    "ends before it starts": ({"recurrence": weekly((["mon"], "14:00", "10:00"))}, "later"),
    "an unknown zone": (
        {"recurrence": weekly((["mon"], "10:00", "14:00"), zone="Mars/Olympus")},
        "IANA",
    ),
    "a bad day": ({"recurrence": weekly((["someday"], "10:00", "14:00"))}, "is not one of"),
    "no windows": ({"recurrence": {"time_zone": "UTC", "weekly": []}}, "at least one"),
    "too short for the lock": (
        {"recurrence": weekly((["mon"], "10:00", "10:05"))},
        "needs at least 0:15:00",
    ),
    "not an object": ({"recurrence": "mondays"}, "dictionary"),
    "one-time use": ({"recurrence": CLEANER, "is_one_time_use": True}, "one-time-use"),
    "offline": ({"recurrence": CLEANER, "is_offline_access_code": True}, "offline"),
    "no occurrence in the overall window": (
        # Tuesday to Wednesday: neither a Monday nor a Thursday.
        {
            "recurrence": CLEANER,
            "starts_at": "2025-01-07T00:00:00Z",
            "ends_at": "2025-01-08T12:00:00Z",
        },
        "no occurrence",
    ),
}


@pytest.mark.parametrize(("body", "message"), BAD.values(), ids=BAD.keys())
def test_a_bad_recurrence_is_invalid_input(
    server: Harness, body: dict[str, Any], message: str
) -> None:
    seam = server.seam()
    lock = lock_of(seam)
    go_to(server, utc("2025-01-04T12:00:00"))
    with pytest.raises(SeamHttpInvalidInputError, match=message) as caught:
        create(seam, lock, code="5823", **body)
    assert caught.value.status_code == 400
    assert "recurrence" in [v.parameter_name for v in caught.value.validation_errors]
    assert seam.access_codes.list(device_id=lock) == []


def test_update_adds_changes_and_removes_a_recurrence(server: Harness) -> None:
    seam = server.seam()
    lock = lock_of(seam)
    go_to(server, utc("2025-01-04T12:00:00"))
    code = seam.access_codes.create(device_id=lock, code="5823", name="Walker")
    server.advance(SECOND)
    server.advance(SECOND)
    cid = code.access_code_id
    plain = raw_get(seam, cid)
    assert plain["status"] == "set" and not EXTENSION_FIELDS & set(plain)
    # Saturday: no occurrence now, so the code leaves the lock.
    post(seam, "/access_codes/update", access_code_id=cid, recurrence=CLEANER)
    assert raw_get(seam, cid)["status"] == "removing"
    server.advance(SECOND)
    server.advance(SECOND)
    view = raw_get(seam, cid)
    assert view["status"] == "unset"
    assert view["next_occurrence_starts_at"] == "2025-01-06T15:00:00.000Z"
    # Weekends instead: Saturday now, so back on the lock.
    post(
        seam,
        "/access_codes/update",
        access_code_id=cid,
        recurrence=weekly((["sat", "sun"], "00:00", "23:59")),
    )
    server.advance(SECOND)
    server.advance(SECOND)
    view = raw_get(seam, cid)
    assert view["status"] == "set"
    assert view["next_occurrence_starts_at"] == "2025-01-04T05:00:00.000Z"
    # The typed SDK's update leaves the recurrence alone.
    seam.access_codes.update(access_code_id=cid, name="Dog walker")
    assert raw_get(seam, cid)["recurrence"]["weekly"][0]["days"] == ["sat", "sun"]
    post(seam, "/access_codes/update", access_code_id=cid, recurrence=None)
    view = raw_get(seam, cid)
    assert view["name"] == "Dog walker" and not EXTENSION_FIELDS & set(view)
    with pytest.raises(SeamHttpInvalidInputError, match="overlap"):
        post(
            seam,
            "/access_codes/update",
            access_code_id=cid,
            recurrence=weekly((["mon"], "10:00", "12:00"), (["mon"], "11:00", "13:00")),
        )
    changes = [
        e
        for e in seam.events.list(since="2025-01-01T00:00:00Z")
        if e.event_type == "access_code.changed"
    ]
    assert len(changes) == 4


def test_the_cli_lists_recurring_codes_with_their_recurrence(server: Harness) -> None:
    url = server.service.settings.database_url
    seam = server.seam()
    lock = lock_of(seam)
    recurring = create(seam, lock, name="Cleaner", code="5823", recurrence=CLEANER)
    plain = seam.access_codes.create(device_id=lock, name="Owner", code="7314")
    listed = {c["access_code_id"]: c for c in _cli_json(url, "codes", "list", "--device", lock)}
    assert listed[recurring["access_code_id"]]["recurrence"] == recurring["recurrence"]
    assert not EXTENSION_FIELDS & set(listed[plain.access_code_id])
    table = _cli(url, "codes", "list", "--device", lock).stdout
    assert "mon,thu 10:00-14:00 America/New_York" in table


def test_the_cli_creates_a_recurring_code_through_the_api_rules(server: Harness) -> None:
    url = server.service.settings.database_url
    seam = server.seam()
    lock = lock_of(seam)
    made = _cli_json(
        url,
        "codes",
        "create",
        "--device",
        lock,
        "--name",
        "Walker",
        "--code",
        "6152",
        "--recurrence",
        json.dumps(CLEANER),
    )
    assert made["recurrence"]["weekly"] == [
        {"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}
    ]
    assert made["next_occurrence_starts_at"] is not None
    listed = seam.client.get("/access_codes/list", params={"device_id": lock})["access_codes"]
    assert [c["access_code_id"] for c in listed] == [made["access_code_id"]]
    bad = json.dumps({"weekly": [{"days": ["mon"], "from": "14:00", "to": "10:00"}]})
    refused = _cli(url, "codes", "create", "--device", lock, "--recurrence", bad, check=False)
    assert refused.returncode == 1 and "invalid_input" in refused.stderr
    assert "Traceback" not in refused.stderr
    masked = _cli(url, "codes", "create", "--device", lock, "--name", "Spare", "--code", "7315")
    assert not shows_pin("7315", masked.stderr + masked.stdout) and "created" in masked.stderr


def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Recurring access codes", 1)[1]
    command = section.split("```bash\n", 1)[1].split("```", 1)[0]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    env = _env(f"sqlite:///{tmp_path / 'recur.db'}")
    key = sandbox_key(env)
    port = free_port()
    setup = (
        "from seam import Seam\n"
        f"seam = Seam(api_key={key!r}, endpoint='http://127.0.0.1:{port}')\n"
        "device_id = seam.devices.list(device_type='august_lock')[0].device_id\n"
        "print(device_id)\n"
    )
    with _serving(env, port):
        run = subprocess.run(
            [sys.executable, "-c", setup + script], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        device_id, *printed = run.stdout.splitlines()
        assert printed == [
            "America/Los_Angeles 2030-01-01T20:00:00.000Z",
            "time_bound unset",
        ]
        shell = (
            command.replace("seam_test…", key)
            .replace(":3020", f":{port}")
            .replace("DEVICE_ID", device_id)
        )
        curl = subprocess.run(
            ["sh", "-c", shell], capture_output=True, text=True, timeout=60, check=True
        )
    view = json.loads(curl.stdout)["access_code"]
    assert view["recurrence"]["weekly"] == [
        {"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}
    ]
    assert view["next_occurrence_starts_at"] is not None


def test_a_backup_pulled_for_a_recurring_code_keeps_to_its_occurrences(server: Harness) -> None:
    seam = server.seam()
    lock = lock_of(seam, "yale_lock")  # has a backup pool
    go_to(server, utc("2025-01-04T12:00:00"))
    original = create(
        seam,
        lock,
        code="4821",
        recurrence=CLEANER,
        starts_at="2025-01-05T00:00:00Z",
        ends_at="2025-02-01T00:00:00Z",
        use_backup_access_code_pool=True,
    )
    server.advance(SECOND)
    server.advance(SECOND)
    go_to(server, utc("2025-01-06T16:00:00"))  # inside Monday's occurrence
    server.advance(SECOND)
    assert seam.access_codes.get(access_code_id=original["access_code_id"]).status == "set"
    pulled = seam.access_codes.pull_backup_access_code(access_code_id=original["access_code_id"])
    backup = raw_get(seam, pulled.access_code_id)
    assert backup["recurrence"] == original["recurrence"]
    assert backup["next_occurrence_ends_at"] == "2025-01-06T19:00:00.000Z"
    server.advance(SECOND)
    assert pulled.code in _lock_pins(server, lock)
    go_to(server, utc("2025-01-06T19:00:00"))
    server.advance(SECOND)
    server.advance(SECOND)
    assert pulled.code not in _lock_pins(server, lock)
    assert raw_get(seam, pulled.access_code_id)["status"] == "unset"
    go_to(server, utc("2025-01-09T14:00:00"))  # Thursday's lead time
    server.advance(SECOND)
    server.advance(SECOND)
    assert pulled.code in _lock_pins(server, lock)
    assert raw_get(seam, pulled.access_code_id)["status"] == "set"
