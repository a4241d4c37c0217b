"""``/connected_accounts/*``: the accounts a workspace's locks come through. Their driver
configuration is never shown."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, ShortText
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store.tables import ConnectedAccount
from pinwarden.store.views import connected_account_view


class GetParams(Params):
    connected_account_id: Id | None = None
    email: ShortText | None = None


class ListParams(Params):
    user_identifier_key: ShortText | None = None
    custom_metadata_has: dict[str, Any] | None = None
    customer_key: ShortText | None = None
    search: ShortText | None = None
    limit: Limit = 11_000
    page_cursor: str | None = None


def account_in_workspace(session: Session, workspace_id: str, account_id: str) -> ConnectedAccount:
    account = session.get(ConnectedAccount, account_id)
    if account is None or account.workspace_id != workspace_id:
        raise not_found("connected_account", connected_account_id=account_id)
    return account


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """GET/POST /connected_accounts/get by id (accounts have no e-mail address here)."""
    if (params.connected_account_id is None) == (params.email is None):
        raise invalid_input("Provide either connected_account_id or email", "connected_account_id")
    if params.connected_account_id is None:
        raise not_found("connected_account", email=params.email)
    with ctx.services.db.read() as session:
        account = account_in_workspace(session, ctx.workspace_id, params.connected_account_id)
        return {"connected_account": connected_account_view(account)}


def list_accounts(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """GET/POST /connected_accounts/list; ``search`` matches the provider."""
    with ctx.services.db.read() as session:
        stmt = select(ConnectedAccount).where(ConnectedAccount.workspace_id == ctx.workspace_id)
        if params.user_identifier_key or params.customer_key or params.custom_metadata_has:
            # pinwarden has no user identities, customers or account metadata.
            stmt = stmt.where(ConnectedAccount.connected_account_id.is_(None))
        if params.search:
            stmt = stmt.where(ConnectedAccount.provider.ilike(f"%{params.search.lower()}%"))
        rows, pagination = paginate(
            session,
            stmt,
            ConnectedAccount.created_at,
            ConnectedAccount.connected_account_id,
            params,
            ctx.url,
        )
        accounts = [connected_account_view(r) for r in rows]
    return {"connected_accounts": accounts, "pagination": pagination}


ENDPOINTS = [
    Endpoint("/connected_accounts/get", ("GET", "POST"), GetParams, get, read_only=True),
    Endpoint(
        "/connected_accounts/list", ("GET", "POST"), ListParams, list_accounts, read_only=True
    ),
]
