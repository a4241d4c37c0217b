"""pinwarden extension: ``/api_keys/list``, ``/api_keys/create``, ``/api_keys/revoke``.

A key sees and manages only its own workspace's keys; a read-only key may list them but
not create or revoke (wire.py answers 403 to every write with a read-only key).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import select

from pinwarden.api.auth import issue, key_id_of
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.params import ShortText, Timestamp
from pinwarden.api.wire import Endpoint, NoParams, Params
from pinwarden.store.tables import ApiKey, Workspace
from pinwarden.timeutil import iso

KeyId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CreateParams(Params):
    name: ShortText | None = None
    expires_at: Timestamp | None = None
    is_read_only: bool = False


class RevokeParams(Params):
    # The key id (as listed), or the whole key.
    api_key_id: KeyId


def api_key_view(key: ApiKey) -> dict[str, Any]:
    """A key as the routes and ``pinwarden api-key list --json`` show it: never its secret."""
    return {
        "api_key_id": key.key_id,
        "workspace_id": key.workspace_id,
        "name": key.name,
        "prefix": f"seam_{key.key_id}_",
        "is_read_only": key.is_read_only,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
    }


def list_keys(ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
    """The workspace's keys, oldest first, revoked and expired ones included."""
    with ctx.services.db.read() as session:
        keys = session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == ctx.workspace_id)
            .order_by(ApiKey.created_at, ApiKey.key_id)
        ).all()
        return {"api_keys": [api_key_view(k) for k in keys]}


def create(ctx: RequestContext, params: CreateParams) -> dict[str, Any]:
    """A new key; its clear text is in ``api_key.token``, this once."""
    now = ctx.services.clock.now()
    if params.expires_at is not None and params.expires_at <= now:
        raise invalid_input("expires_at must be in the future", "expires_at")
    with ctx.services.db.write() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None:
            raise not_found("workspace", workspace_id=ctx.workspace_id)
        row, token = issue(
            session,
            workspace,
            now,
            name=params.name,
            expires_at=params.expires_at,
            read_only=params.is_read_only,
        )
        session.flush()
        return {"api_key": {**api_key_view(row), "token": token}}


def revoke(ctx: RequestContext, params: RevokeParams) -> dict[str, Any]:
    """Revoke a key of the workspace (the caller's own too): refused from the next request on."""
    key_id = key_id_of(params.api_key_id)
    with ctx.services.db.write() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.workspace_id != ctx.workspace_id:
            raise not_found("api_key", api_key_id=key_id)
        if row.revoked_at is None:
            row.revoked_at = ctx.services.clock.now()
        session.flush()
        return {"api_key": api_key_view(row)}


ENDPOINTS = [
    Endpoint("/api_keys/list", ("GET", "POST"), NoParams, list_keys, read_only=True),
    Endpoint("/api_keys/create", ("POST",), CreateParams, create),
    Endpoint("/api_keys/revoke", ("POST",), RevokeParams, revoke),
]
