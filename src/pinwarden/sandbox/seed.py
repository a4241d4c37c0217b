"""Sandbox workspaces: one connected account of the ``sandbox`` driver per brand, one
simulated lock per model, discovered at once through the same path as any account's."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pinwarden.engine.discovery import sync_account
from pinwarden.sandbox.driver import DRIVER_NAME, locks_of
from pinwarden.sandbox.models import LOCK_MODELS, SANDBOX_MODEL_KEYS
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.store.tables import (
    AccessCode,
    ActionAttempt,
    ConnectedAccount,
    Device,
    Event,
    ReplayGuard,
    Workspace,
)


def seed_sandbox(session: Session, workspace: Workspace, now: datetime) -> None:
    """Give a sandbox workspace its simulated locks, as devices right away (without
    ``device.added``: the workspace starts with them)."""
    accounts: dict[str, ConnectedAccount] = {}
    for model_key in SANDBOX_MODEL_KEYS:
        manufacturer = LOCK_MODELS[model_key].manufacturer
        account = accounts.get(manufacturer)
        if account is None:
            account = ConnectedAccount(
                connected_account_id=str(uuid.uuid4()),
                workspace_id=workspace.workspace_id,
                provider=manufacturer,
                driver=DRIVER_NAME,
                config={},
                discovery_seq=0,
                created_at=now,
            )
            accounts[manufacturer] = account
            session.add(account)
            session.flush()
        session.add(
            SandboxLock(
                lock_id=str(uuid.uuid4()),
                connected_account_id=account.connected_account_id,
                model_key=model_key,
                online=True,
                battery_level=0.9,
                faults={},
                used_offline_pins=[],
            )
        )
    session.flush()
    for account in accounts.values():
        found = locks_of(session, account.connected_account_id)
        sync_account(session, account, found, now, announce=False)


def reset_sandbox(session: Session, workspace: Workspace, now: datetime) -> None:
    """Drop every code, event, attempt, device and account of the workspace (the locks
    go with their accounts), then seed afresh."""
    wid = workspace.workspace_id
    # Accounts, then devices, then their codes: the order discovery and the engine's
    # writes lock them in. Deleting codes first would hold code rows while waiting for a
    # device a reconcile holds, and that reconcile waits for those codes (a deadlock).
    session.execute(
        select(ConnectedAccount.connected_account_id)
        .where(ConnectedAccount.workspace_id == wid)
        .order_by(ConnectedAccount.connected_account_id)
        .with_for_update(key_share=True)
    )
    session.execute(
        select(Device.device_id)
        .where(Device.workspace_id == wid)
        .order_by(Device.device_id)
        .with_for_update()
    )
    for table in (AccessCode, ActionAttempt, Event, Device, ConnectedAccount, ReplayGuard):
        session.execute(delete(table).where(table.workspace_id == wid))
    seed_sandbox(session, workspace, now)
