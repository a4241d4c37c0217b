"""Migration 0009 seals what earlier versions kept in clear, and its downgrade opens it."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import create_engine, select, text

from pinwarden.clock import FakeClock
from pinwarden.service import Service
from pinwarden.store.events import record_event
from pinwarden.store.migrate import alembic_config
from pinwarden.store.sealed import keys
from pinwarden.store.tables import AccessCode, Device, Event, Webhook
from tests.conftest import START, make_settings
from tests.store.test_sandbox_migration import blank_url  # noqa: F401 (a fixture)

PIN = "904512"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ"


def _clear_rows(url: str) -> dict[str, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {
            "code": conn.execute(text("SELECT code FROM access_codes")).scalar_one(),
            "secret": conn.execute(text("SELECT secret FROM webhooks")).scalar_one(),
            "payload": conn.execute(
                text("SELECT payload FROM events WHERE event_type = 'access_code.set_on_device'")
            ).scalar_one(),
        }
    engine.dispose()
    return found


def test_existing_pins_and_secrets_are_sealed_and_can_be_opened_back(
    blank_url: str,  # noqa: F811
) -> None:
    config = alembic_config(blank_url)
    service = Service(make_settings(blank_url), FakeClock(START))
    service.migrate()
    workspace_id, _ = service.create_workspace("w", sandbox=True)
    with service.db.write() as session:
        device = session.scalars(select(Device).where(Device.workspace_id == workspace_id)).first()
        assert device is not None
        code = AccessCode(
            access_code_id="c1",
            workspace_id=workspace_id,
            device_id=device.device_id,
            name="Guest",
            code=PIN,
            status="set",
            created_at=START,
        )
        session.add(code)
        session.add(
            Webhook(
                webhook_id="w1",
                workspace_id=workspace_id,
                url="http://127.0.0.1:9/",
                event_types=["*"],
                secret=SECRET,
                created_at=START,
            )
        )
        record_event(
            session,
            "access_code.set_on_device",
            START,
            workspace_id=workspace_id,
            device=device,
            access_code=code,
            code=PIN,
        )
    service.db.dispose()

    command.downgrade(config, "0008")
    clear = _clear_rows(blank_url)
    assert (clear["code"], clear["secret"]) == (PIN, SECRET)
    assert PIN in str(clear["payload"])

    command.upgrade(config, "head")
    sealed = _clear_rows(blank_url)
    assert str(sealed["code"]).startswith(f"pw1.{keys().current_id}.")
    assert str(sealed["secret"]).startswith("pw1.")
    assert PIN not in str(sealed["payload"])
    again = Service(make_settings(blank_url), FakeClock(START + timedelta(minutes=1)))
    again.migrate()
    with again.db.read() as session:
        row = session.get(AccessCode, "c1")
        assert row is not None and row.code == PIN
        assert row.code_digest == keys().digest(PIN)
        assert session.get(Webhook, "w1").secret == SECRET  # type: ignore[union-attr]
        event = session.scalars(select(Event).where(Event.access_code_id == "c1")).one()
        assert (event.secrets, "code" in event.payload) == ({"code": PIN}, False)
    again.db.dispose()
