"""``/webhooks/*`` (R125, R156–R158) plus pinwarden's delivery log and replay."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import httpx
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError, invalid_input, not_found
from pinwarden.api.params import Id, Limit
from pinwarden.api.wire import Endpoint, NoParams, Params
from pinwarden.store.events import WEBHOOKS_DELETED, queue_deliveries
from pinwarden.store.tables import Event, Webhook, WebhookAttempt, WebhookDelivery
from pinwarden.timeutil import iso
from pinwarden.webhooks.event_types import KNOWN_EVENT_TYPES
from pinwarden.webhooks.signing import new_secret


class CreateParams(Params):
    url: str
    event_types: list[str] | None = None


class WebhookParams(Params):
    webhook_id: str = Field(min_length=1, max_length=36)


class UpdateParams(WebhookParams):
    event_types: list[str]


class DeliveriesParams(WebhookParams):
    event_id: Id | None = None
    limit: Limit = 100


class ReplayParams(Params):
    event_id: Id
    webhook_id: str | None = Field(default=None, min_length=1, max_length=36)


def _view(webhook: Webhook) -> dict[str, Any]:
    return {
        "webhook_id": webhook.webhook_id,
        "url": webhook.url,
        "event_types": list(webhook.event_types),
        "secret": webhook.secret,
    }


def _check_url(url: str) -> str:
    """An absolute http(s) URL that httpx can send to, not aimed at link-local, multicast or
    unspecified addresses (cloud metadata endpoints live there)."""
    problem = invalid_input("url must be an absolute http(s) URL", "url")
    if len(url) > 2048 or any(c.isspace() for c in url):
        raise problem
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise problem from exc
    if parsed.scheme not in ("http", "https") or not parsed.host or (port is not None and port < 1):
        raise problem
    try:
        address = ipaddress.ip_address(parsed.host.strip("[]"))
    except ValueError:
        return url
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        raise invalid_input("url must not point at a link-local or special address", "url")
    return url


def _check_event_types(event_types: list[str] | None) -> list[str]:
    """Default ``["*"]``: every event (R156); unknown names are refused (R158)."""
    if event_types is None or event_types == []:
        return ["*"]
    unknown = sorted({t for t in event_types if t != "*" and t not in KNOWN_EVENT_TYPES})
    if unknown:
        raise SeamError(
            400,
            "invalid_event_types",
            f"Unknown event types: {', '.join(unknown)}",
            data={"event_types": unknown},
        )
    return list(dict.fromkeys(event_types))


def _find(session: Session, ctx: RequestContext, webhook_id: str) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or webhook.workspace_id != ctx.workspace_id:
        raise not_found("webhook", webhook_id=webhook_id)
    return webhook


def create(ctx: RequestContext, params: CreateParams) -> dict[str, Any]:
    """POST /webhooks/create: a new subscription with its own ``whsec_`` secret."""
    url = _check_url(params.url)
    event_types = _check_event_types(params.event_types)
    with ctx.services.db.write() as session:
        webhook = Webhook(
            webhook_id=str(uuid.uuid4()),
            workspace_id=ctx.workspace_id,
            url=url,
            event_types=event_types,
            secret=new_secret(),
            created_at=ctx.services.clock.now(),
        )
        session.add(webhook)
        return {"webhook": _view(webhook)}


def get(ctx: RequestContext, params: WebhookParams) -> dict[str, Any]:
    """GET/POST /webhooks/get."""
    with ctx.services.db.read() as session:
        return {"webhook": _view(_find(session, ctx, params.webhook_id))}


def list_webhooks(ctx: RequestContext, _params: NoParams) -> dict[str, Any]:
    """GET/POST /webhooks/list."""
    with ctx.services.db.read() as session:
        rows = session.scalars(
            select(Webhook)
            .where(Webhook.workspace_id == ctx.workspace_id)
            .order_by(Webhook.created_at, Webhook.webhook_id)
        ).all()
        return {"webhooks": [_view(w) for w in rows]}


def update(ctx: RequestContext, params: UpdateParams) -> dict[str, Any]:
    """PUT/POST /webhooks/update: replace the event-type filter."""
    event_types = _check_event_types(params.event_types)
    with ctx.services.db.write() as session:
        _find(session, ctx, params.webhook_id).event_types = event_types
    return {}


def delete(ctx: RequestContext, params: WebhookParams) -> dict[str, Any]:
    """DELETE/POST /webhooks/delete: pending deliveries and retries stop with it (R157)."""
    with ctx.services.db.write() as session:
        session.delete(_find(session, ctx, params.webhook_id))
        session.info.setdefault(WEBHOOKS_DELETED, set()).add(params.webhook_id)
    return {}


def deliveries(ctx: RequestContext, params: DeliveriesParams) -> dict[str, Any]:
    """pinwarden extension: the delivery log of one webhook, newest first."""
    with ctx.services.db.read() as session:
        _find(session, ctx, params.webhook_id)
        stmt = (
            select(WebhookDelivery, Event.event_id, Event.event_type)
            .join(Event, Event.seq == WebhookDelivery.event_seq)
            .where(WebhookDelivery.webhook_id == params.webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(params.limit)
        )
        if params.event_id is not None:
            stmt = stmt.where(Event.event_id == params.event_id)
        rows = session.execute(stmt).all()
        attempts: dict[int, list[dict[str, Any]]] = {}
        ids = [row[0].id for row in rows]
        if ids:
            for attempt in session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(ids))
                .order_by(WebhookAttempt.id)
            ):
                attempts.setdefault(attempt.delivery_id, []).append(
                    {
                        "attempted_at": iso(attempt.attempted_at),
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                        "duration_ms": attempt.duration_ms,
                    }
                )
        return {
            "webhook_deliveries": [
                {
                    "webhook_delivery_id": str(delivery.id),
                    "webhook_id": delivery.webhook_id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "status": delivery.status,
                    "attempt_count": delivery.attempts,
                    "next_attempt_at": iso(delivery.next_attempt_at),
                    "created_at": iso(delivery.created_at),
                    "attempts": attempts.get(delivery.id, []),
                }
                for delivery, event_id, event_type in rows
            ]
        }


def replay(ctx: RequestContext, params: ReplayParams) -> dict[str, Any]:
    """pinwarden extension: send an event again, to one webhook or to every subscriber."""
    now = ctx.services.clock.now()
    with ctx.services.db.write() as session:
        event = session.scalar(
            select(Event).where(
                Event.event_id == params.event_id, Event.workspace_id == ctx.workspace_id
            )
        )
        if event is None:
            raise not_found("event", event_id=params.event_id)
        targets = None
        if params.webhook_id is not None:
            targets = [_find(session, ctx, params.webhook_id)]
        queued = queue_deliveries(session, event, now, targets)
    return {"webhook_deliveries_queued": queued}


ENDPOINTS = [
    Endpoint("/webhooks/create", ("POST",), CreateParams, create),
    Endpoint("/webhooks/get", ("GET", "POST"), WebhookParams, get, read_only=True),
    Endpoint("/webhooks/list", ("GET", "POST"), NoParams, list_webhooks, read_only=True),
    Endpoint("/webhooks/update", ("POST", "PUT"), UpdateParams, update),
    Endpoint("/webhooks/delete", ("POST", "DELETE"), WebhookParams, delete),
    Endpoint(
        "/webhooks/deliveries/list", ("GET", "POST"), DeliveriesParams, deliveries, read_only=True
    ),
    Endpoint("/webhooks/deliveries/replay", ("POST",), ReplayParams, replay),
]
