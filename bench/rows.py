"""Rows for filling a benchmark database in bulk, as the API would have left them."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from pinwarden.sandbox.models import LOCK_MODELS
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.service import Service
from pinwarden.store.sealed import digest, new_key
from pinwarden.store.tables import ConnectedAccount, Device

# Benchmark databases are thrown away: a key for this run only, and no key file left behind.
os.environ.setdefault("PINWARDEN_SECRET_KEY", new_key())

MODEL = "yale_assure_lock_2"


def add_account(service: Service, workspace_id: str) -> str:
    """A connected account for the benchmark's locks; returns its id."""
    account = str(uuid.uuid4())
    with service.db.write() as session:
        session.add(
            ConnectedAccount(
                connected_account_id=account,
                workspace_id=workspace_id,
                provider="yale",
                driver="sandbox",
                config={},
                discovery_seq=0,
                created_at=service.clock.now(),
            )
        )
    return account


def device_row(
    device_id: str, workspace_id: str, account: str, n: int, now: datetime, due: datetime
) -> dict[str, Any]:
    """A zero-latency simulated lock, first due at ``due``."""
    return {
        "device_id": device_id,
        "workspace_id": workspace_id,
        "connected_account_id": account,
        "driver": "sandbox",
        "address": device_id,
        "capabilities": LOCK_MODELS[MODEL].to_json(),
        "name": f"Door {n}",
        "custom_metadata": {},
        "online": True,
        "locked": True,
        "errors": [],
        "created_at": now,
        "next_reconcile_at": due,
        "wake_seq": 0,
        "failure_count": 0,
    }


def insert_locks(session: Session, devices: list[dict[str, Any]]) -> None:
    """Insert ``device_row`` rows and, behind each, its zero-latency simulated lock."""
    locks = [
        {
            "lock_id": d["address"],
            "connected_account_id": d["connected_account_id"],
            "model_key": MODEL,
            "online": True,
            "battery_level": 0.9,
            "faults": {"latency_ms": 0},
            "used_offline_pins": [],
        }
        for d in devices
    ]
    session.execute(insert(SandboxLock), locks)
    session.execute(insert(Device), devices)


def code_row(
    workspace_id: str,
    device_id: str,
    name: str,
    pin: str,
    now: datetime,
    *,
    access_code_id: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    """A new access code: ``setting`` when ongoing, ``unset`` (just in time) when timed."""
    return {
        "access_code_id": access_code_id or str(uuid.uuid4()),
        "workspace_id": workspace_id,
        "device_id": device_id,
        "name": name,
        "code": pin,
        "code_digest": digest(pin),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": "setting" if starts_at is None else "unset",
        "created_at": now,
        "is_external_modification_allowed": False,
        "prefer_native_scheduling": starts_at is None,
        "is_one_time_use": False,
        "is_offline_access_code": False,
        "errors": [],
        "warnings": [],
        "revision": 1,
        "was_on_device": False,
        "is_scheduled_on_device": False,
    }
