"""``/workspaces/get`` and ``/workspaces/reset_sandbox`` (R126)."""

from __future__ import annotations

from typing import Any

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.lookup import new_action_attempt
from pinwarden.api.wire import Endpoint, NoParams
from pinwarden.store.tables import Workspace
from pinwarden.store.views import action_attempt_view, workspace_view
from pinwarden.store.workspaces import reset_sandbox


def get(ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
    """The caller's workspace."""
    with ctx.services.db.read() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None:
            raise not_found("workspace", workspace_id=ctx.workspace_id)
        return {"workspace": workspace_view(workspace)}


def reset(ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
    """Restore the seeded locks and forget codes, events and attempts (sandbox only)."""
    if not ctx.is_sandbox:
        raise invalid_input("Only sandbox workspaces can be reset")
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None:
            raise not_found("workspace", workspace_id=ctx.workspace_id)
        reset_sandbox(session, workspace, now)
        attempt = new_action_attempt(
            session, ctx.workspace_id, "RESET_SANDBOX_WORKSPACE", now, status="success", result={}
        )
        session.flush()
        view = action_attempt_view(attempt)
    ctx.services.wake_worker()
    return {"action_attempt": view}


ENDPOINTS = [
    Endpoint("/workspaces/get", ("GET", "POST"), NoParams, get, read_only=True),
    Endpoint("/workspaces/reset_sandbox", ("POST",), NoParams, reset),
]
