"""Views kept by row (api/reads.py): raw reads parse to what SQLAlchemy reads, a changed row
is never answered with its old view, and a view handed out is the caller's to change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from pinwarden.api.reads import CODES, DEVICES, code_row_view, codes_with_devices
from pinwarden.store.tables import AccessCode, Device
from tests.conftest import Harness


def _lock(seam: Any) -> str:
    return str(seam.devices.list(device_type="august_lock")[0].device_id)


def test_raw_columns_parse_to_what_sqlalchemy_reads(server: Harness) -> None:
    seam = server.seam()
    device_id = _lock(seam)
    seam.devices.update(device_id=device_id, custom_metadata={"unit": "4B", "vip": True})
    seam.access_codes.create(
        device_id=device_id,
        code="4821",
        name="Timed",
        starts_at="2030-01-01T10:00:00Z",
        ends_at="2030-01-02T10:00:00Z",
    )
    db = server.service.db
    dialect = db.engine.dialect
    with db.rows() as conn:
        raw = conn.execute(codes_with_devices().where(AccessCode.device_id == device_id)).one()
        read = conn.execute(
            select(*CODES.columns)
            .join(Device, Device.device_id == AccessCode.device_id)
            .where(AccessCode.device_id == device_id)
        ).one()
        raw_device = conn.execute(
            select(*DEVICES.selected).where(Device.device_id == device_id)
        ).one()
        read_device = conn.execute(
            select(*DEVICES.columns).where(Device.device_id == device_id)
        ).one()
    assert tuple(vars(CODES.parsed(dialect, tuple(raw))).values()) == tuple(read)
    assert CODES.value(dialect, raw, "created_at") == read.created_at
    assert tuple(vars(DEVICES.parsed(dialect, tuple(raw_device))).values()) == tuple(read_device)


def test_a_changed_row_is_never_answered_with_its_old_view(server: Harness) -> None:
    seam = server.seam()
    device_id = _lock(seam)
    made = seam.access_codes.create(device_id=device_id, code="5930", name="Before")
    code_id = made.access_code_id
    assert seam.access_codes.get(access_code_id=code_id).name == "Before"
    assert seam.devices.get(device_id=device_id).custom_metadata == {}
    seam.access_codes.update(access_code_id=code_id, name="After")
    seam.devices.update(device_id=device_id, custom_metadata={"unit": "7"})
    assert seam.access_codes.get(access_code_id=code_id).name == "After"
    assert [c.name for c in seam.access_codes.list(device_id=device_id)] == ["After"]
    assert seam.devices.get(device_id=device_id).custom_metadata == {"unit": "7"}


def test_a_view_handed_out_is_the_callers_own(server: Harness) -> None:
    seam = server.seam()
    device_id = _lock(seam)
    seam.access_codes.create(device_id=device_id, code="7351", name="Mine")
    db = server.service.db
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with db.rows() as conn:
        row = conn.execute(codes_with_devices().where(AccessCode.device_id == device_id)).one()
    first = code_row_view(conn.dialect, row, now)
    first["name"] = "changed"
    first["errors"].append({"error_code": "x"})
    first["warnings"].append({"warning_code": "y"})
    again = code_row_view(conn.dialect, row, now)
    assert again["name"] == "Mine" and again["errors"] == [] and again["warnings"] == []
