"""``/workspaces/get`` (R126; ``reset_sandbox`` is the sandbox integration's)."""

from __future__ import annotations

from typing import Any

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import not_found
from pinwarden.api.wire import Endpoint, NoParams
from pinwarden.store.tables import Workspace
from pinwarden.store.views import workspace_view


def get(ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
    """The caller's workspace."""
    with ctx.services.db.read() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None:
            raise not_found("workspace", workspace_id=ctx.workspace_id)
        return {"workspace": workspace_view(workspace)}


ENDPOINTS = [
    Endpoint("/workspaces/get", ("GET", "POST"), NoParams, get, read_only=True),
]
