"""``/connected_accounts/*``: the vendor accounts a workspace's locks come through, and the
sandbox's account disconnection (spec §4.3 T18–T19)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.lookup import request_reconcile, require_sandbox
from pinwarden.api.pagination import paginate
from pinwarden.api.params import Id, Limit, ShortText
from pinwarden.api.wire import Endpoint, Params
from pinwarden.domain.issues import error, without_errors
from pinwarden.store.events import record_event
from pinwarden.store.tables import ConnectedAccount, Device
from pinwarden.store.views import ACCOUNT_DISCONNECTED, connected_account_view


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


class SimulateParams(Params):
    connected_account_id: Id


def _account(session: Session, workspace_id: str, account_id: str) -> ConnectedAccount:
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
        account = _account(session, ctx.workspace_id, params.connected_account_id)
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


def _set_connected(ctx: RequestContext, account_id: str, connected: bool) -> dict[str, Any]:
    """Connect or disconnect a sandbox account. While it is disconnected its locks are not
    contacted, show ``account_disconnected``, and their codes read ``unknown`` (T18); once
    it is back, each lock is read again and the codes' statuses follow (T19)."""
    require_sandbox(ctx.is_sandbox)
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        account = _account(session, ctx.workspace_id, account_id)
        if (account.disconnected_at is None) == connected:
            return {}
        account.disconnected_at = None if connected else now
        devices = session.scalars(
            select(Device)
            .where(Device.connected_account_id == account_id)
            .order_by(Device.device_id)
            .with_for_update()
        ).all()
        for device in devices:
            others = without_errors(device.errors, {ACCOUNT_DISCONNECTED})
            device.errors = (
                others
                if connected
                else [
                    *others,
                    error(
                        ACCOUNT_DISCONNECTED,
                        "The account the lock is connected through is disconnected",
                        now,
                        is_connected_account_error=True,
                    ),
                ]
            )
            request_reconcile(session, device.device_id, now)
        record_event(
            session,
            "connected_account.connected" if connected else "connected_account.disconnected",
            now,
            workspace_id=ctx.workspace_id,
            connected_account_id=account_id,
        )
    ctx.services.wake_worker()
    return {}


def simulate_disconnect(ctx: RequestContext, params: SimulateParams) -> dict[str, Any]:
    """pinwarden extension, sandbox only: the vendor account stops answering."""
    return _set_connected(ctx, params.connected_account_id, connected=False)


def simulate_connect(ctx: RequestContext, params: SimulateParams) -> dict[str, Any]:
    """pinwarden extension, sandbox only: the vendor account is reconnected."""
    return _set_connected(ctx, params.connected_account_id, connected=True)


ENDPOINTS = [
    Endpoint("/connected_accounts/get", ("GET", "POST"), GetParams, get, read_only=True),
    Endpoint(
        "/connected_accounts/list", ("GET", "POST"), ListParams, list_accounts, read_only=True
    ),
    Endpoint(
        "/connected_accounts/simulate/disconnect", ("POST",), SimulateParams, simulate_disconnect
    ),
    Endpoint("/connected_accounts/simulate/connect", ("POST",), SimulateParams, simulate_connect),
]
