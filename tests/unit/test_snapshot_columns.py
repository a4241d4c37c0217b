"""Snapshots unpack code rows by position (a hot loop): each column must land in the
field of its name, which a swap of two columns of one type would break silently."""

from __future__ import annotations

from pinwarden.engine.snapshot import _CODE, _state

# Fields _state copies straight from the column of the same name (or the named one).
COPIED = {
    "access_code_id": "access_code_id",
    "revision": "revision",
    "code": "code",
    "name": "name",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "status": "status",
    "slot": "slot",
    "op_kind": "op_kind",
    "op_revision": "op_revision",
    "op_settles_at": "op_settles_at",
    "was_on_device": "was_on_device",
    "slot_code": "slot_code",
    "is_external_modification_allowed": "is_external_modification_allowed",
    "is_scheduled_on_device": "is_scheduled_on_device",
    "offline": "is_offline_access_code",
}


def test_each_code_column_lands_in_the_field_of_its_name() -> None:
    # Every value is its own column's name, so a value out of place names where it came from.
    row = tuple(column.key for column in _CODE)
    state = _state(row, native=True)
    assert {field: getattr(state, field) for field in COPIED} == COPIED


def test_the_derived_fields_read_their_own_columns() -> None:
    names = [column.key for column in _CODE]

    def row(**values: object) -> tuple[object, ...]:
        base = {**dict.fromkeys(names), "prefer_native_scheduling": True, **values}
        return tuple(base[n] for n in names)

    assert not _state(row(), native=True).deleted
    assert _state(row(deleted_at="then"), native=True).deleted
    assert _state(row(used_at="then"), native=True).deleted
    assert not _state(row(used_at="then", is_offline_access_code=True), native=True).deleted
    assert _state(row(), native=True).native
    assert not _state(row(prefer_native_scheduling=False), native=True).native
    assert not _state(row(recurrence={"weekly": []}), native=True).native
