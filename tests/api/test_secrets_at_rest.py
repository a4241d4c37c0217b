"""PINs and secrets at rest (issue 14): what the database holds is sealed, what the API
answers is not, and nothing the process writes elsewhere gives a PIN away."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from seam import Seam
from sqlalchemy import create_engine, select, text

from pinwarden.store.tables import Base, Device
from tests.api.test_first_run import _env
from tests.conftest import Harness
from tests.processes import PINWARDEN, free_port, wait_until
from tests.webhooks.receiver import Receiver

SECOND = timedelta(seconds=1)
PINS = ["739146", "582047"]
FOREIGN_PIN = "618203"
# Earlier PIN of a code that is changed, and one shared by linked codes on two locks.
CHANGED_PIN = "864209"
SHARED_PIN = "395718"
SINCE = "2024-01-01T00:00:00Z"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _lock(seam: Seam, device_type: str) -> str:
    return str(seam.devices.list(device_type=device_type)[0].device_id)


def _raw(database_url: str) -> bytes:
    """Everything the database holds, as stored: the SQLite file and its WAL, or every
    PostgreSQL row as text."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = [
            str(row[0])
            for table in Base.metadata.sorted_tables
            for row in conn.execute(text(f"SELECT CAST(t AS text) FROM {table.name} t"))
        ]
    engine.dispose()
    return "\n".join(rows).encode()


def test_the_database_holds_no_pin_or_secret_in_clear(
    server: Harness, receiver: Receiver, database_url: str
) -> None:
    seam = server.seam()
    lock = _lock(seam, "august_lock")
    webhook = seam.webhooks.create(url=receiver.url)
    codes = [
        seam.access_codes.create(device_id=lock, name=f"Guest {n}", code=p)
        for n, p in enumerate([CHANGED_PIN, PINS[1]])
    ]
    server.advance(SECOND)
    seam.access_codes.update(access_code_id=codes[0].access_code_id, code=PINS[0])
    other = _lock(seam, "schlage_lock")
    seam.access_codes.create_multiple(device_ids=[lock, other], code=SHARED_PIN, name="Shared")
    seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=lock, name="Cleaner", code=FOREIGN_PIN
    )
    server.advance(SECOND)
    seam.locks.simulate.keypad_code_entry(device_id=lock, code=PINS[0])
    igloo = _lock(seam, "igloohome_lock")
    offline = seam.access_codes.create(
        device_id=igloo,
        name="Offline",
        is_offline_access_code=True,
        starts_at="2025-01-01T10:00:00Z",
        ends_at="2025-01-01T16:00:00Z",
    )
    server.settle()

    # The API and the webhooks still answer with the PINs.
    assert {c.code for c in seam.access_codes.list(device_id=lock)} == {*PINS, SHARED_PIN}
    assert all(c.status == "set" for c in seam.access_codes.list(device_id=lock))
    assert seam.access_codes.get(device_id=lock, code=PINS[1]).access_code_id == (
        codes[1].access_code_id
    )
    set_events = seam.events.list(event_type="access_code.set_on_device", since=SINCE)
    assert {e.code for e in set_events} >= set(PINS)  # type: ignore[attr-defined]
    assert any(PINS[0] in r.body for r in receiver.requests)
    changed = seam.events.list(event_type="access_code.changed", since=SINCE)
    assert any(CHANGED_PIN in str(e.changed_properties) for e in changed)  # type: ignore[attr-defined]
    unlocked = seam.events.list(event_type="lock.unlocked", device_id=lock, since=SINCE)
    assert unlocked[-1].access_code_id == codes[0].access_code_id
    found = seam.access_codes.unmanaged.get(device_id=lock, code=FOREIGN_PIN)
    assert found.code == FOREIGN_PIN
    with server.service.db.read() as session:
        device = session.scalars(select(Device).where(Device.device_id == igloo)).one()
        offline_secret = device.offline_code_secret
    assert offline_secret is not None and offline.code is not None

    stored = _raw(database_url)
    assert b"pw1." in stored
    secrets = [*PINS, CHANGED_PIN, SHARED_PIN, FOREIGN_PIN, offline.code, offline_secret]
    for secret in [*secrets, webhook.secret]:
        assert secret.encode() not in stored, secret
    assert webhook.secret.removeprefix("whsec_").encode() not in stored


def test_searching_codes_finds_a_whole_pin(server: Harness) -> None:
    seam = server.seam()
    lock = _lock(seam, "august_lock")
    code = seam.access_codes.create(device_id=lock, name="Front", code=PINS[0])
    seam.access_codes.create(device_id=lock, name="Back", code=PINS[1])
    assert [c.access_code_id for c in seam.access_codes.list(search=PINS[0])] == [
        code.access_code_id
    ]
    assert [c.name for c in seam.access_codes.list(search="fro")] == ["Front"]


def _output_of(proc: subprocess.Popen[bytes], log: Path) -> str:
    proc.terminate()
    proc.wait(timeout=20)
    return log.read_text()


def test_nothing_the_process_writes_names_a_pin(tmp_path: Path, receiver: Receiver) -> None:
    env = _env(f"sqlite:///{tmp_path / 'leak.db'}")
    env["PINWARDEN_WEBHOOK_TIMEOUT_SECONDS"] = "2"
    receiver.respond = lambda _r: 500  # the delivery log gets failures to describe
    port = free_port()
    log = tmp_path / "output.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*PINWARDEN, "serve", "--sandbox", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def key_printed() -> str | None:
            return next((w for w in log.read_text().split() if w.startswith("seam_")), None)

        wait_until(key_printed, 30)
        key = key_printed()
        assert key is not None
        base = f"http://127.0.0.1:{port}"
        seam = Seam(api_key=key, endpoint=base)
        lock = _lock(seam, "august_lock")
        webhook = seam.webhooks.create(url=receiver.url)
        code = seam.access_codes.create(device_id=lock, name="Guest", code=PINS[0])
        wait_until(
            lambda: seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
        )
        headers = {"Authorization": f"Bearer {key}"}
        # Refusals that name the PIN to the caller who sent it, and nowhere else.
        answers: list[Any] = [
            httpx.post(
                f"{base}/access_codes/create",
                json={"device_id": lock, "code": PINS[0]},
                headers=headers,
            ),
            httpx.get(
                f"{base}/access_codes/get",
                params={"device_id": lock, "code": PINS[1]},
                headers=headers,
            ),
            httpx.post(
                f"{base}/access_codes/create",
                json={"device_id": lock, "code": PINS[1], "starts_at": "nonsense"},
                headers=headers,
            ),
        ]
        assert [a.status_code for a in answers] == [409, 404, 400]
        seam.locks.simulate.keypad_code_entry(device_id=lock, code=PINS[0])
        seam.locks.simulate.keypad_code_entry(device_id=lock, code=PINS[1])
        wait_until(lambda: len(receiver.requests) >= 2)
        deliveries = httpx.get(
            f"{base}/webhooks/deliveries/list",
            params={"webhook_id": webhook.webhook_id},
            headers=headers,
        )
        assert deliveries.status_code == 200
        assert "500" in deliveries.text
        metrics = httpx.get(f"{base}/metrics").text
        assert "pinwarden" in metrics
    finally:
        output = _output_of(proc, log)
    for written in (output, metrics, deliveries.text):
        for pin in PINS:
            assert pin not in written
