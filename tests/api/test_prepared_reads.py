"""Every prepared read the API runs gives what SQLAlchemy's own execution of its statement
gives: the same rows, each value of the same type, under the same names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pinwarden.api import auth
from pinwarden.api.routes import access_codes, devices
from pinwarden.store.prepared import PreparedRead
from tests.conftest import Harness


def _cases(server: Harness) -> list[tuple[str, PreparedRead, dict[str, Any]]]:
    workspace_id, key = server.workspace()
    seam = server.seam(key)
    lock = seam.devices.list(device_type="august_lock")[0]
    device_id = lock.device_id
    seam.access_codes.create(device_id=device_id, code="2468", name="ongoing")
    timed = seam.access_codes.create(
        device_id=device_id,
        code="1357",
        name="timed",
        starts_at="2030-01-01T00:00:00Z",
        ends_at="2030-02-01T00:00:00Z",
    )
    server.settle()
    now = server.clock.now()
    cases = [
        ("key check", auth._LOOKUP, {"key_id": auth.key_id_of(key), "now": now}),
        ("device by id", devices._BY_ID, {"device_id": device_id, "workspace_id": workspace_id}),
        (
            "device by name",
            devices._BY_NAME,
            {"workspace_id": workspace_id, "name": lock.properties.name},
        ),
        (
            "code by id",
            access_codes._BY_ID,
            {"access_code_id": timed.access_code_id, "workspace_id": workspace_id},
        ),
    ]
    for by_device in (True, False):
        for after in (False, True):
            listed = access_codes._list_statement(by_device, False, False, False, after)
            assert isinstance(listed, PreparedRead)
            values = {"workspace_id": workspace_id, "device_id": device_id, "page_limit": 5}
            if after:
                values |= {"after_created": now - timedelta(days=3650), "after_id": ""}
            cases.append((f"list by_device={by_device} after={after}", listed, values))
    return cases


def test_every_prepared_read_gives_what_sqlalchemy_gives(server: Harness) -> None:
    cases = _cases(server)
    with server.service.db.rows() as conn:
        for label, prepared, values in cases:
            expected = conn.execute(prepared._statement, values).all()
            got = prepared.all(conn, values)
            assert expected, label  # a read that finds nothing would compare nothing
            assert [tuple(r) for r in got] == [tuple(r) for r in expected], label
            # Equal values can still differ in type (1 == True, an aware and a naive time).
            assert [tuple(map(type, r)) for r in got] == [tuple(map(type, r)) for r in expected], (
                label
            )
            assert [r._fields for r in got] == [tuple(r._fields) for r in expected], label
            first = prepared.first(conn, values)
            assert first is not None and tuple(first) == tuple(expected[0]), label
