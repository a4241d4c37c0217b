"""Loading a workspace's resources; anything outside the workspace is "not found"."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.errors import SeamError, invalid_input, not_found
from pinwarden.store.tables import AccessCode, ActionAttempt, Device, UnmanagedAccessCode


def device_in_workspace(
    session: Session, workspace_id: str, device_id: str, for_update: bool = False
) -> Device:
    """The device, or 404 ``device_not_found``."""
    device = session.get(Device, device_id, with_for_update=for_update)
    if device is None or device.workspace_id != workspace_id:
        raise not_found("device", device_id=device_id)
    return device


def require_sandbox(is_sandbox: bool) -> None:
    """400 unless the request comes from a sandbox workspace."""
    if not is_sandbox:
        raise invalid_input("Simulations are only available in sandbox workspaces")


def code_not_found(access_code_id: str, device_id: str | None) -> SeamError:
    """404 ``access_code_not_found``, echoing the ids looked up (R43)."""
    data = {"access_code_id": access_code_id}
    if device_id is not None:
        data["device_id"] = device_id
    return not_found("access_code", **data)


def access_code_in_workspace(
    session: Session, workspace_id: str, access_code_id: str, device_id: str | None = None
) -> AccessCode:
    """The managed access code, or 404 ``accesscode_not_found`` (R79)."""
    code = session.get(AccessCode, access_code_id)
    if (
        code is None
        or code.workspace_id != workspace_id
        or (device_id is not None and code.device_id != device_id)
    ):
        raise code_not_found(access_code_id, device_id)
    return code


def locked_access_code(
    session: Session, workspace_id: str, access_code_id: str, device_id: str | None = None
) -> tuple[AccessCode, Device]:
    """The managed code and its device, the device locked against the reconciler and the
    code re-read under that lock (whatever a pass recorded meanwhile)."""
    code = access_code_in_workspace(session, workspace_id, access_code_id, device_id)
    device = device_in_workspace(session, workspace_id, code.device_id, for_update=True)
    session.refresh(code)
    return code, device


def unmanaged_in_workspace(
    session: Session, workspace_id: str, access_code_id: str, device_id: str | None = None
) -> UnmanagedAccessCode:
    """The unmanaged access code, or 404 ``accesscode_not_found``.

    Read afresh, so that after the caller locked the device it sees what the reconciler
    last recorded.
    """
    code = session.scalar(
        select(UnmanagedAccessCode)
        .where(UnmanagedAccessCode.access_code_id == access_code_id)
        .execution_options(populate_existing=True)
    )
    if (
        code is None
        or code.workspace_id != workspace_id
        or (device_id is not None and code.device_id != device_id)
    ):
        raise code_not_found(access_code_id, device_id)
    return code


def locked_unmanaged(
    session: Session, workspace_id: str, access_code_id: str
) -> tuple[UnmanagedAccessCode, Device]:
    """The unmanaged code and its device, the device locked against the reconciler."""
    code = unmanaged_in_workspace(session, workspace_id, access_code_id)
    device = device_in_workspace(session, workspace_id, code.device_id, for_update=True)
    return unmanaged_in_workspace(session, workspace_id, access_code_id), device


# How long after a delete its replay still answers the same attempt once the code is gone.
# The SDK's last retry of a DELETE comes at most about 330 s after the first try (three
# 30 s timeouts, two waits capped at 120 s, R52); later, the code is simply not found (R94).
DELETE_REPLAY_WINDOW = timedelta(minutes=10)


def earlier_delete(
    session: Session, workspace_id: str, access_code_id: str, since: datetime | None = None
) -> ActionAttempt | None:
    """The delete request already made for this code (at ``since`` or later), if any: a
    replayed delete answers it again (R53)."""
    stmt = select(ActionAttempt).where(
        ActionAttempt.workspace_id == workspace_id,
        ActionAttempt.access_code_id == access_code_id,
        ActionAttempt.action_type == "DELETE_ACCESS_CODE",
    )
    if since is not None:
        stmt = stmt.where(ActionAttempt.created_at >= since)
    return session.scalar(stmt)


def new_action_attempt(
    session: Session,
    workspace_id: str,
    action_type: str,
    now: datetime,
    *,
    device_id: str | None = None,
    access_code_id: str | None = None,
    revision: int | None = None,
    status: str = "pending",
    result: dict[str, object] | None = None,
) -> ActionAttempt:
    """Add an action attempt row."""
    attempt = ActionAttempt(
        action_attempt_id=str(uuid.uuid4()),
        workspace_id=workspace_id,
        action_type=action_type,
        status=status,
        result=result,
        error=None,
        device_id=device_id,
        access_code_id=access_code_id,
        revision=revision,
        created_at=now,
    )
    session.add(attempt)
    return attempt
