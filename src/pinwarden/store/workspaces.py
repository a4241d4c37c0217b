"""Creating workspaces and seeding sandbox ones with simulated locks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from pinwarden.devices.models import LOCK_MODELS, SANDBOX_MODEL_KEYS
from pinwarden.store.tables import (
    AccessCode,
    ActionAttempt,
    ConnectedAccount,
    Device,
    Event,
    ReplayGuard,
    Workspace,
)


def create_workspace(
    session: Session, name: str, is_sandbox: bool, now: datetime, company_name: str | None = None
) -> Workspace:
    """A new workspace; sandbox workspaces come with one simulated lock per model."""
    workspace = Workspace(
        workspace_id=str(uuid.uuid4()),
        name=name,
        company_name=company_name or name,
        is_sandbox=is_sandbox,
        created_at=now,
    )
    session.add(workspace)
    session.flush()
    if is_sandbox:
        seed_sandbox_devices(session, workspace, now)
    return workspace


# Every sandbox lock starts in one zone, as if the whole property were there; set another
# with devices/update.
SANDBOX_TIME_ZONE = "America/Los_Angeles"


def seed_sandbox_devices(session: Session, workspace: Workspace, now: datetime) -> list[Device]:
    """One connected account per brand and one simulated lock per sandbox model."""
    accounts: dict[str, ConnectedAccount] = {}
    devices: list[Device] = []
    for model_key in SANDBOX_MODEL_KEYS:
        model = LOCK_MODELS[model_key]
        account = accounts.get(model.manufacturer)
        if account is None:
            account = ConnectedAccount(
                connected_account_id=str(uuid.uuid4()),
                workspace_id=workspace.workspace_id,
                provider=model.manufacturer,
                created_at=now,
            )
            accounts[model.manufacturer] = account
            session.add(account)
        device = Device(
            device_id=str(uuid.uuid4()),
            workspace_id=workspace.workspace_id,
            connected_account_id=account.connected_account_id,
            driver="simulated",
            model_key=model_key,
            name=model.default_name,
            custom_metadata={},
            time_zone=SANDBOX_TIME_ZONE,
            online=True,
            locked=True,
            errors=[],
            created_at=now,
            next_reconcile_at=now,
            wake_seq=0,
            failure_count=0,
        )
        devices.append(device)
        session.add(device)
    session.flush()
    return devices


def reset_sandbox(session: Session, workspace: Workspace, now: datetime) -> None:
    """Drop every code, event, attempt and device of the workspace, then seed afresh."""
    wid = workspace.workspace_id
    for table in (AccessCode, ActionAttempt, Event, Device, ConnectedAccount, ReplayGuard):
        session.execute(delete(table).where(table.workspace_id == wid))
    seed_sandbox_devices(session, workspace, now)
