"""Writing events into the outbox, always inside the caller's transaction (decision 3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from pinwarden.store.tables import Device, Event, Webhook, WebhookDelivery
from pinwarden.timeutil import iso

# Set in ``session.info`` when a transaction queued webhook deliveries, so that the
# deliverer can be woken once it commits: the set of webhook ids they are owed to.
DELIVERIES_QUEUED = "pinwarden.deliveries_queued"
# Set in ``session.info`` to the ids of webhooks a transaction deleted, so that a lane
# sending to one stops before its next request.
WEBHOOKS_DELETED = "pinwarden.webhooks_deleted"


class HasAccessCodeId(Protocol):
    """An access code as an event names it: a managed or unmanaged code's row, or the
    engine's copy of one (:class:`pinwarden.engine.rows.CodeRow`)."""

    @property
    def access_code_id(self) -> str:
        """The code's id."""
        ...


# Set in ``session.info`` by a writer that records many events in one transaction (the
# engine's write groups, see :func:`defer_events`): the events recorded, with the webhooks
# each is owed to, until :func:`insert_deferred` writes them all.
_DEFERRED = "pinwarden.deferred_events"
_EVENTS = cast(Table, Event.__table__)
_DELIVERIES = cast(Table, WebhookDelivery.__table__)


def subscribed(event_types: list[str], event_type: str) -> bool:
    """Whether a webhook with ``event_types`` receives ``event_type`` (R156)."""
    return "*" in event_types or event_type in event_types


_WEBHOOKS = "pinwarden.webhooks_by_workspace"


def _webhooks(session: Session, workspace_id: str) -> list[Webhook]:
    """The workspace's webhooks, read once per transaction (events come in bursts).

    Held with ``FOR KEY SHARE`` (PostgreSQL) until the transaction ends: a webhook deleted
    meanwhile waits for the deliveries owed to it and takes them along, instead of the
    event's transaction failing on a delivery row whose webhook is gone."""
    cache: dict[str, list[Webhook]] = session.info.setdefault(_WEBHOOKS, {})
    if workspace_id not in cache:
        cache[workspace_id] = list(
            session.scalars(
                select(Webhook)
                .where(Webhook.workspace_id == workspace_id)
                .order_by(Webhook.webhook_id)
                .with_for_update(read=True, key_share=True)
            )
        )
    return cache[workspace_id]


def queue_deliveries(
    session: Session, event: Event, now: datetime, webhooks: list[Webhook] | None = None
) -> int:
    """Owe ``event`` to every subscribed webhook of its workspace (or to ``webhooks``)."""
    if webhooks is None:
        webhooks = _webhooks(session, event.workspace_id)
    targets = _owed(webhooks, event.event_type)
    if not targets:
        return 0
    if event.seq is None:
        session.flush()  # the delivery rows point at the event's sequence number
    for webhook_id in targets:
        session.add(WebhookDelivery(**_delivery(webhook_id, event.seq, now)))
    _mark_queued(session, targets)
    return len(targets)


def _owed(webhooks: list[Webhook], event_type: str) -> list[str]:
    """The ids of the webhooks among ``webhooks`` that receive ``event_type``."""
    return [w.webhook_id for w in webhooks if subscribed(w.event_types, event_type)]


def _delivery(webhook_id: str, event_seq: int, now: datetime) -> dict[str, Any]:
    """A new delivery's row: due at once."""
    return {
        "webhook_id": webhook_id,
        "event_seq": event_seq,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _mark_queued(session: Session, webhook_ids: list[str]) -> None:
    """Tell the commit hooks that this transaction queued deliveries for these webhooks."""
    queued: set[str] = session.info.setdefault(DELIVERIES_QUEUED, set())
    queued.update(webhook_ids)


def event_json(payload: dict[str, Any], secrets: dict[str, Any] | None) -> dict[str, Any]:
    """An event as clients see it: its stored payload with its PINs, if it has any."""
    return payload if not secrets else {**payload, **secrets}


def split_secrets(fields: dict[str, Any]) -> dict[str, Any] | None:
    """Take the fields that carry a PIN out of an event's ``fields``: they are sealed."""
    secrets = {}
    if "code" in fields:
        secrets["code"] = fields.pop("code")
    changed = fields.get("changed_properties") or []
    if any(change.get("property") == "code" for change in changed):
        secrets["changed_properties"] = fields.pop("changed_properties")
    return secrets or None


def defer_events(session: Session) -> None:
    """From now on in this transaction, :func:`record_event` keeps its rows to be written
    together by :func:`insert_deferred`, which the caller must call before committing (and
    nothing may read the events table in between)."""
    session.info.setdefault(_DEFERRED, [])


def insert_deferred(session: Session) -> None:
    """Write the events recorded since :func:`defer_events`, in the order they were
    recorded, and the deliveries owed for them: two executemany statements."""
    pending: list[tuple[dict[str, Any], list[str]]] = session.info.pop(_DEFERRED, [])
    if not pending:
        return
    rows = [values for values, _targets in pending]
    if not any(targets for _values, targets in pending):
        session.execute(insert(_EVENTS), rows)
        return
    # Each delivery points at its event's sequence number, given by the insert.
    seqs = session.scalars(
        insert(_EVENTS).returning(_EVENTS.c.seq, sort_by_parameter_order=True), rows
    ).all()
    session.execute(
        insert(_DELIVERIES),
        [
            _delivery(webhook_id, seq, values["created_at"])
            for seq, (values, targets) in zip(seqs, pending, strict=True)
            for webhook_id in targets
        ],
    )


def record_event(
    session: Session,
    event_type: str,
    now: datetime,
    *,
    workspace_id: str,
    device: Device | None = None,
    access_code: HasAccessCodeId | None = None,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> None:
    """Add one event row, and a delivery for each webhook subscribed to it; its payload is
    the exact JSON clients and webhooks receive, but for its PINs, which are sealed in a
    column of their own (:func:`event_json`)."""
    event_id = str(uuid.uuid4())
    payload: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "workspace_id": workspace_id,
        "created_at": iso(now),
        "occurred_at": iso(occurred_at or now),
    }
    if device is not None:
        payload["device_id"] = device.device_id
        payload["connected_account_id"] = device.connected_account_id
        if device.custom_metadata:
            payload["device_custom_metadata"] = dict(device.custom_metadata)
    if access_code is not None:
        payload["access_code_id"] = access_code.access_code_id
    secrets = split_secrets(extra)
    payload.update(extra)
    values = {
        "event_id": event_id,
        "workspace_id": workspace_id,
        "event_type": event_type,
        "device_id": device.device_id if device is not None else None,
        "access_code_id": access_code.access_code_id if access_code is not None else None,
        "created_at": now,
        "occurred_at": occurred_at or now,
        "payload": payload,
        "secrets": secrets,
    }
    deferred: list[tuple[dict[str, Any], list[str]]] | None = session.info.get(_DEFERRED)
    if deferred is None:
        row = Event(**values)
        session.add(row)
        queue_deliveries(session, row, now)
        return
    targets = _owed(_webhooks(session, workspace_id), event_type)
    deferred.append((values, targets))
    if targets:
        _mark_queued(session, targets)
