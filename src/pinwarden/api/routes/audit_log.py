"""pinwarden extension: ``/audit_log/list``, the workspace's audit trail (store/audit.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pinwarden.api.context import RequestContext
from pinwarden.api.params import Id, Limit, ShortText, Timestamp
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store import audit


class ListParams(Params):
    device_id: Id | None = None
    access_code_id: Id | None = None
    # An API key id (``api_key`` actors), an OS user (``cli``), a console user id.
    actor: ShortText | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: Limit = 500
    unstable_offset: int | None = Field(default=None, ge=0, le=1_000_000_000)


def list_entries(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """The caller's workspace's entries, oldest first, as ``events/list`` pages."""
    with ctx.services.db.read() as session:
        entries = audit.find(
            session,
            workspace_id=ctx.workspace_id,
            device_id=params.device_id,
            access_code_id=params.access_code_id,
            actor_id=params.actor or None,
            since=params.since,
            until=params.until,
            limit=params.limit,
            offset=params.unstable_offset or 0,
        )
        return {"audit_log_entries": [audit.entry_view(e) for e in entries]}


ENDPOINTS = [
    Endpoint("/audit_log/list", ("GET", "POST"), ListParams, list_entries, read_only=True),
]
