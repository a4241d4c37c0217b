"""Linked codes (R73–R78, R89–R90, R68, R167–R169) and reported constraints (R106–R107),
through the official SDK."""

from __future__ import annotations

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from tests.conftest import Harness


def _locks(seam: Seam, *device_types: str) -> list[str]:
    return [str(seam.devices.list(device_type=t)[0].device_id) for t in device_types]


def _codes(seam: Seam, device_ids: list[str]) -> list[str]:
    return [c.access_code_id for d in device_ids for c in seam.access_codes.list(device_id=d)]


def test_one_pin_valid_on_every_lock_linked_by_a_new_key(server: Harness) -> None:
    seam = server.seam()
    locks = _locks(seam, "yale_lock", "nuki_lock", "schlage_lock")
    codes = seam.access_codes.create_multiple(
        device_ids=locks,
        name="Guest",
        starts_at="2025-02-01T15:00:00Z",
        ends_at="2025-02-04T11:00:00Z",
    )
    assert [c.device_id for c in codes] == locks
    pins = {c.code for c in codes}
    keys = {c.common_code_key for c in codes}
    assert len(pins) == 1 and len(keys) == 1 and None not in keys
    pin = pins.pop()
    # Nuki's rules bind everyone: six digits, no zeros, not starting with 12.
    assert len(pin) == 6 and "0" not in pin and not pin.startswith("12")
    events = seam.events.list(event_type="access_code.created", since="2024-01-01T00:00:00Z")
    assert len(events) == 3
    # A single create joining the group gets the group's PIN (R68).
    tedee = _locks(seam, "tedee_lock")[0]
    joined = seam.access_codes.create(device_id=tedee, common_code_key=keys.pop())
    assert joined.code == pin


def test_preferred_length_is_honoured_when_every_lock_allows_it(server: Harness) -> None:
    seam = server.seam()
    locks = _locks(seam, "yale_lock", "tedee_lock")
    codes = seam.access_codes.create_multiple(device_ids=locks, preferred_code_length=7)
    assert {len(c.code or "") for c in codes} == {7}


def test_throw_creates_nothing_when_no_pin_fits_every_lock(server: Harness) -> None:
    seam = server.seam()
    nuki, things = _locks(seam, "nuki_lock", "smartthings_lock")
    seam.access_codes.report_device_constraints(device_id=things, supported_code_lengths=[4])
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create_multiple(device_ids=[nuki, things])
    assert _codes(seam, [nuki, things]) == []
    codes = seam.access_codes.create_multiple(
        device_ids=[nuki, things], behavior_when_code_cannot_be_shared="create_random_code"
    )
    assert len(codes[0].code or "") == 6 and codes[0].common_code_key is not None
    assert len(codes[1].code or "") == 4 and codes[1].common_code_key is None


def test_custom_code_is_never_linked(server: Harness) -> None:
    seam = server.seam()
    yale, nuki = _locks(seam, "yale_lock", "nuki_lock")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create_multiple(device_ids=[yale, nuki], code="1234")
    assert _codes(seam, [yale, nuki]) == []
    codes = seam.access_codes.create_multiple(
        device_ids=[yale, nuki],
        code="1234",
        behavior_when_code_cannot_be_shared="create_random_code",
    )
    assert codes[0].code == "1234" and codes[1].code != "1234"
    assert [c.common_code_key for c in codes] == [None, None]
    # The same custom PIN again overlaps the first: 409, and nothing half-made.
    with pytest.raises(SeamHttpApiError) as err:
        seam.access_codes.create_multiple(device_ids=[yale], code="1234", name="clash")
    assert err.value.code == "duplicate_access_code"
    assert len(_codes(seam, [yale, nuki])) == 2


def test_update_multiple_moves_the_whole_group(server: Harness) -> None:
    seam = server.seam()
    locks = _locks(seam, "yale_lock", "schlage_lock")
    codes = seam.access_codes.create_multiple(
        device_ids=locks,
        name="Stay",
        starts_at="2025-03-01T15:00:00Z",
        ends_at="2025-03-05T11:00:00Z",
    )
    key = codes[0].common_code_key
    assert key is not None
    seam.access_codes.update_multiple(
        common_code_key=key, name="Extended stay", ends_at="2025-03-08T11:00:00Z"
    )
    for c in codes:
        got = seam.access_codes.get(access_code_id=c.access_code_id)
        assert got.name == "Extended stay"
        assert got.starts_at.startswith("2025-03-01T15:00:00")
        assert got.ends_at.startswith("2025-03-08T11:00:00")
    changed = seam.events.list(event_type="access_code.changed", since="2024-01-01T00:00:00Z")
    assert len(changed) == 2
    # All or nothing: an invalid window for the group changes no member.
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update_multiple(common_code_key=key, starts_at="2025-03-09T00:00:00Z")
    assert all(
        seam.access_codes.get(access_code_id=c.access_code_id).starts_at.startswith("2025-03-01")
        for c in codes
    )
    # A member's PIN cannot drift from the group's (R167, R169).
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=codes[0].access_code_id, code="8642")
    with pytest.raises(SeamHttpApiError) as err:
        seam.access_codes.update_multiple(common_code_key="no_such_key", name="x")
    assert err.value.code == "access_code_not_found"


def test_identical_create_multiple_replayed_returns_the_first_codes(server: Harness) -> None:
    seam = server.seam()
    locks = _locks(seam, "yale_lock", "schlage_lock")
    first = seam.access_codes.create_multiple(device_ids=locks, name="Retry me")
    again = seam.access_codes.create_multiple(device_ids=locks, name="Retry me")
    assert [c.access_code_id for c in again] == [c.access_code_id for c in first]
    assert len(_codes(seam, locks)) == 2
    # Another workspace's identical request is its own.
    other = server.seam()
    mine = _locks(other, "yale_lock")
    assert (
        other.access_codes.create_multiple(device_ids=mine, name="Retry me")[0].device_id == mine[0]
    )


def test_reported_constraints_govern_pins(server: Harness) -> None:
    seam = server.seam()
    things, yale = _locks(seam, "smartthings_lock", "yale_lock")
    seam.access_codes.report_device_constraints(
        device_id=things, min_code_length=6, max_code_length=7
    )
    device = seam.devices.get(device_id=things)
    assert device.properties.supported_code_lengths == [6, 7]
    assert len(seam.access_codes.generate_code(device_id=things).code) == 6
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create(device_id=things, code="1357")
    assert seam.access_codes.create(device_id=things, code="135792").code == "135792"
    for bad in (
        {"supported_code_lengths": [4], "min_code_length": 4},
        {"min_code_length": 8, "max_code_length": 6},
        {"supported_code_lengths": [3]},
        {"supported_code_lengths": []},
        {},
    ):
        with pytest.raises(SeamHttpInvalidInputError):
            seam.access_codes.report_device_constraints(device_id=things, **bad)
    # Locks that know their own constraints refuse reports.
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.report_device_constraints(device_id=yale, supported_code_lengths=[6])
