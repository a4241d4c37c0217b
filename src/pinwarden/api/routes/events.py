"""``/events/get`` and ``/events/list`` (R123–R124)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field
from sqlalchemy import Select, bindparam, select

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input, not_found
from pinwarden.api.filters import accepted
from pinwarden.api.params import Id, Limit, ShortText, Timestamp
from pinwarden.api.wire import Endpoint, Params
from pinwarden.store.events import event_json
from pinwarden.store.tables import Event


class GetParams(Params):
    event_id: Id | None = None
    event_type: ShortText | None = None
    device_id: Id | None = None


class ListParams(Params):
    since: Timestamp | None = None
    between: list[Timestamp] | None = Field(default=None, min_length=2, max_length=2)
    device_id: Id | None = None
    device_ids: list[Id] | None = None
    access_code_id: Id | None = None
    access_code_ids: list[Id] | None = None
    event_type: ShortText | None = None
    event_types: list[ShortText] | None = None
    event_ids: list[Id] | None = None
    connected_account_id: Id | None = None
    connect_webview_id: Id | None = None
    customer_key: str | None = None
    # Access-system, space and grant filters: pinwarden has none of these resources, so a
    # request naming one matches no events.
    acs_system_id: Id | None = None
    acs_system_ids: list[Id] | None = Field(default=None, max_length=100)
    acs_entrance_id: Id | None = None
    acs_user_id: Id | None = None
    acs_credential_id: Id | None = None
    acs_access_group_id: Id | None = None
    acs_encoder_id: Id | None = None
    user_identity_id: Id | None = None
    access_grant_id: Id | None = None
    access_grant_ids: list[Id] | None = Field(default=None, max_length=100)
    access_method_id: Id | None = None
    access_method_ids: list[Id] | None = Field(default=None, max_length=100)
    space_id: Id | None = None
    space_ids: list[Id] | None = Field(default=None, max_length=100)
    limit: Limit = 500
    unstable_offset: int | None = Field(default=None, ge=0, le=1_000_000_000)


def get(ctx: RequestContext, params: GetParams) -> dict[str, Any]:
    """The matching event (the most recent one when filtering by type or device)."""
    if params.event_id is None and params.event_type is None and params.device_id is None:
        raise invalid_input("Provide event_id, event_type or device_id", "event_id")
    stmt = select(Event).where(Event.workspace_id == ctx.workspace_id)
    if params.event_id is not None:
        stmt = stmt.where(Event.event_id == params.event_id)
    if params.event_type is not None:
        stmt = stmt.where(Event.event_type == params.event_type)
    if params.device_id is not None:
        stmt = stmt.where(Event.device_id == params.device_id)
    with ctx.services.db.read() as session:
        event = session.scalars(stmt.order_by(Event.seq.desc()).limit(1)).first()
        if event is None:
            raise not_found("event", event_id=params.event_id)
        return {"event": event_json(event.payload, event.secrets)}


# Resources pinwarden does not have: naming one matches no events.
_FOREIGN_FILTERS = (
    "connect_webview_id",
    "customer_key",
    "acs_system_id",
    "acs_system_ids",
    "acs_entrance_id",
    "acs_user_id",
    "acs_credential_id",
    "acs_access_group_id",
    "acs_encoder_id",
    "user_identity_id",
    "access_grant_id",
    "access_grant_ids",
    "access_method_id",
    "access_method_ids",
    "space_id",
    "space_ids",
)


# The list filters that name ids or types (each with its singular form), by column.
_LIST_FILTERS = (
    ("device_ids", Event.device_id),
    ("access_code_ids", Event.access_code_id),
    ("event_types", Event.event_type),
    ("event_ids", Event.event_id),
)


@functools.cache
def _list_statement(
    between: bool, lists: frozenset[str], by_account: bool, foreign: bool
) -> Select[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The list query for one shape of filters, with bound parameters (built once):
    a prebuilt statement compiles once, and each filter has an index to use."""
    stmt = select(Event.payload, Event.secrets).where(
        Event.workspace_id == bindparam("workspace_id")
    )
    if between:
        stmt = stmt.where(
            Event.created_at > bindparam("lower"), Event.created_at < bindparam("upper")
        )
    else:
        stmt = stmt.where(Event.created_at > bindparam("lower"))
    for many, column in _LIST_FILTERS:
        if many in lists:
            stmt = stmt.where(column.in_(bindparam(many, expanding=True)))
    if by_account:
        stmt = stmt.where(
            Event.payload["connected_account_id"].as_string() == bindparam("connected_account_id")
        )
    if foreign:
        stmt = stmt.where(Event.event_id.is_(None))
    return (
        stmt.order_by(Event.created_at, Event.seq)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


def list_events(ctx: RequestContext, params: ListParams) -> dict[str, Any]:
    """Events strictly after ``since``, or strictly inside ``between``; oldest first."""
    if (params.since is None) == (params.between is None):
        raise invalid_input("Provide exactly one of since or between", "since")
    values: dict[str, Any] = {
        "workspace_id": ctx.workspace_id,
        "connected_account_id": params.connected_account_id,
        "offset": params.unstable_offset or 0,
        "limit": params.limit,
    }
    if params.since is not None:
        values["lower"] = params.since
    else:
        assert params.between is not None
        values["lower"], values["upper"] = params.between
    singles = {
        "device_ids": params.device_id,
        "access_code_ids": params.access_code_id,
        # An empty event type is "not given" (the SDKs omit empty strings, R27).
        "event_types": params.event_type or None,
        "event_ids": None,
    }
    for many, _column in _LIST_FILTERS:
        allowed = accepted(getattr(params, many), singles[many])
        if allowed is not None:
            values[many] = sorted(allowed)
    stmt = _list_statement(
        params.between is not None,
        frozenset(name for name, _column in _LIST_FILTERS if name in values),
        bool(params.connected_account_id),
        # An empty list of such ids matches nothing too (R27).
        any(getattr(params, name) not in (None, "") for name in _FOREIGN_FILTERS),
    )
    with ctx.services.db.rows() as conn:
        rows = conn.execute(stmt, values).all()
    return {"events": [event_json(payload, secrets) for payload, secrets in rows]}


ENDPOINTS = [
    Endpoint("/events/get", ("GET", "POST"), GetParams, get, read_only=True),
    Endpoint("/events/list", ("GET", "POST"), ListParams, list_events, read_only=True),
]
