"""``/action_attempts/get`` and ``/action_attempts/list`` (R121–R122)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import not_found
from pinwarden.api.filters import where_accepted
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store.tables import ActionAttempt
from pinwarden.store.views import action_attempt_view


class GetParams(Params):
    action_attempt_id: Id


class ListParams(Params):
    action_attempt_ids: list[Id] | None = None
    device_id: Id | None = None
    limit: Limit = 500
    page_cursor: str | None = None


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """One action attempt of the workspace."""
    with ctx.services.db.read() as session:
        attempt = session.get(ActionAttempt, params.action_attempt_id)
        if attempt is None or attempt.workspace_id != ctx.workspace_id:
            raise not_found("action_attempt", action_attempt_id=params.action_attempt_id)
        return {"action_attempt": action_attempt_view(attempt)}


def list_attempts(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """The workspace's action attempts, oldest first, paginated."""
    stmt = select(ActionAttempt).where(ActionAttempt.workspace_id == ctx.workspace_id)
    stmt = where_accepted(stmt, ActionAttempt.action_attempt_id, params.action_attempt_ids)
    stmt = where_accepted(stmt, ActionAttempt.device_id, None, params.device_id)
    with ctx.services.db.read() as session:
        rows, pagination = paginate(
            session,
            stmt,
            ActionAttempt.created_at,
            ActionAttempt.action_attempt_id,
            params,
            ctx.url,
        )
        return {
            "action_attempts": [action_attempt_view(r) for r in rows],
            "pagination": pagination,
        }


ENDPOINTS = [
    Endpoint("/action_attempts/get", ("GET", "POST"), GetParams, get, read_only=True),
    Endpoint("/action_attempts/list", ("GET", "POST"), ListParams, list_attempts, read_only=True),
]
