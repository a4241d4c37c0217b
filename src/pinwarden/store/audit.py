"""The audit trail: who changed what, when, from where.

Whoever writes on someone's behalf (the API for an API key, the CLI for the OS user, the
console for its user) sets an :class:`Actor` with :func:`acting_as` around the work. A
``before_flush`` listener on every ORM session then diffs the new, changed and deleted
objects of the user-facing tables (:data:`AUDITED`) and adds one :class:`AuditEntry` per
object to the same flush, so an entry commits (or rolls back) with the change it
describes. Writes made with no actor set (the reconciler, discovery, the deliverer) are
not audited: they are the engine's, not a person's.

PINs are masked (``****``, whatever their length); secrets (webhook signing secrets, key
digests, account settings, offline-code keys) are written as ``<redacted>``: the entry
says that they changed, never what they are. The engine's bookkeeping columns (leases,
queue times, revisions) are left out.

Core statements (``session.execute(update(...))``) do not pass through the flush; a write
path that changes a user-facing table that way records it with :func:`record`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, inspect, select
from sqlalchemy.orm import Session

from pinwarden.store.tables import (
    AccessCode,
    ActionAttempt,
    ApiKey,
    AuditEntry,
    Base,
    ConnectedAccount,
    Device,
    UnmanagedAccessCode,
    Webhook,
    Workspace,
)
from pinwarden.timeutil import iso

MASK = "****"
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Actor:
    """Who is writing, and through what.

    ``actor_type`` is ``api_key`` (``actor_id``: the key id), ``cli`` (the OS user) or
    ``console_user`` (the console's user id); ``action`` the route or command.
    """

    actor_type: str
    actor_id: str | None
    action: str
    now: Callable[[], datetime]
    workspace_id: str | None = None
    request_id: str | None = None
    source_address: str | None = None


_ACTOR: ContextVar[Actor | None] = ContextVar("pinwarden_audit_actor", default=None)


def current_actor() -> Actor | None:
    """The actor writes are audited for here, if any."""
    return _ACTOR.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Audit every ORM write in this block (this thread or task) as ``actor``'s."""
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


@dataclass(frozen=True)
class _Kind:
    name: str
    id_attr: str
    # Columns whose values are PINs, or secrets.
    masked: frozenset[str] = frozenset()
    secret: frozenset[str] = frozenset()
    # The engine's bookkeeping: not what anyone changed.
    ignored: frozenset[str] = frozenset()


AUDITED: dict[type[Base], _Kind] = {
    Workspace: _Kind("workspace", "workspace_id"),
    ApiKey: _Kind(
        "api_key", "key_id", secret=frozenset({"secret_hash"}), ignored=frozenset({"last_used_at"})
    ),
    ConnectedAccount: _Kind(
        "connected_account",
        "connected_account_id",
        secret=frozenset({"config"}),
        ignored=frozenset({"discovery_seq", "listener_id", "listener_until"}),
    ),
    Device: _Kind(
        "device",
        "device_id",
        secret=frozenset({"offline_code_secret"}),
        ignored=frozenset(
            {
                "next_reconcile_at",
                "lease_until",
                "lease_owner",
                "wake_seq",
                "failure_count",
                "next_fresh_read_at",
            }
        ),
    ),
    AccessCode: _Kind(
        "access_code",
        "access_code_id",
        masked=frozenset({"code", "slot_code"}),
        # The PIN's keyed digest says when the PIN changed, which ``code`` already says.
        ignored=frozenset(
            {"revision", "op_kind", "op_revision", "op_settles_at", "pending_since", "code_digest"}
        ),
    ),
    UnmanagedAccessCode: _Kind(
        "unmanaged_access_code",
        "access_code_id",
        masked=frozenset({"code"}),
        ignored=frozenset({"code_digest"}),
    ),
    Webhook: _Kind(
        "webhook",
        "webhook_id",
        secret=frozenset({"secret"}),
        ignored=frozenset({"lane_owner", "lane_until"}),
    ),
    # Door commands (lock_door, unlock_door) only: see _DOOR_ACTIONS.
    ActionAttempt: _Kind("action_attempt", "action_attempt_id"),
}

# Action attempts are audited for door commands; the others come with an access code
# change that has its own entry.
_DOOR_ACTIONS = frozenset({"LOCK_DOOR", "UNLOCK_DOOR"})

# Set in ``session.info`` once the transaction has an entry.
_AUDITED_FLAG = "pinwarden.audited"
# This transaction's entries by object, for merging the changes of later flushes.
_ENTRIES = "pinwarden.audit_entries"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def _shown(kind: _Kind, column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in kind.secret:
        return REDACTED
    if column in kind.masked:
        return MASK
    return _jsonable(value)


def _columns(obj: Base) -> list[str]:
    return [attr.key for attr in inspect(obj).mapper.column_attrs]


def _diff(kind: _Kind, obj: Base, operation: str) -> dict[str, Any]:
    state = inspect(obj)
    changes: dict[str, Any] = {}
    for column in _columns(obj):
        if column in kind.ignored:
            continue
        if operation == "create":
            value = getattr(obj, column)
            if value is not None:
                changes[column] = {"from": None, "to": _shown(kind, column, value)}
        elif operation == "delete":
            # What was loaded: a deleted object is not read again in the middle of a flush.
            value = state.dict.get(column)
            if value is not None:
                changes[column] = {"from": _shown(kind, column, value), "to": None}
        else:
            history = state.attrs[column].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before == after:
                continue
            shown_before = _shown(kind, column, before)
            shown_after = _shown(kind, column, after)
            hidden = column in kind.masked or column in kind.secret
            if not hidden and shown_before == shown_after:
                continue
            changes[column] = {"from": shown_before, "to": shown_after}
    return changes


def _entry(
    actor: Actor,
    operation: str,
    *,
    object_type: str | None,
    object_id: str | None,
    workspace_id: str | None,
    device_id: str | None,
    access_code_id: str | None,
    changes: dict[str, Any],
) -> AuditEntry:
    return AuditEntry(
        audit_log_entry_id=str(uuid.uuid4()),
        workspace_id=workspace_id or actor.workspace_id,
        created_at=actor.now(),
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        request_id=actor.request_id,
        source_address=actor.source_address,
        action=actor.action,
        operation=operation,
        object_type=object_type,
        object_id=object_id,
        device_id=device_id,
        access_code_id=access_code_id,
        changes=changes,
    )


def _object_entry(actor: Actor, obj: Base, kind: _Kind, operation: str) -> AuditEntry | None:
    changes = _diff(kind, obj, operation)
    if operation == "update" and not changes:
        return None
    object_id = getattr(obj, kind.id_attr)
    device_id = getattr(obj, "device_id", None)
    access_code_id = getattr(obj, "access_code_id", None)
    return _entry(
        actor,
        operation,
        object_type=kind.name,
        object_id=None if object_id is None else str(object_id),
        workspace_id=getattr(obj, "workspace_id", None),
        device_id=device_id,
        access_code_id=access_code_id,
        changes=changes,
    )


def record(
    session: Session,
    operation: str,
    object_type: str | None = None,
    object_id: str | None = None,
    *,
    workspace_id: str | None = None,
    device_id: str | None = None,
    access_code_id: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record a change the flush cannot see (a Core statement), for the current actor;
    nothing when there is none. ``changes`` must already be masked."""
    actor = current_actor()
    if actor is None:
        return
    session.add(
        _entry(
            actor,
            operation,
            object_type=object_type,
            object_id=object_id,
            workspace_id=workspace_id,
            device_id=device_id,
            access_code_id=access_code_id,
            changes=changes or {},
        )
    )
    session.info[_AUDITED_FLAG] = True


def _merge(earlier: AuditEntry, later: AuditEntry) -> None:
    """Fold a later flush's change of the same object into this transaction's entry, so
    a request makes one entry per object however often it flushes."""
    changes = dict(earlier.changes)
    for column, change in later.changes.items():
        first = changes.get(column)
        before = first["from"] if first is not None else change["from"]
        changes[column] = {"from": before, "to": change["to"]}
    earlier.changes = changes
    if later.operation == "delete":
        earlier.operation = "delete"


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    actor = _ACTOR.get()
    if actor is None:
        return
    seen: dict[tuple[str, str | None], AuditEntry] = session.info.setdefault(_ENTRIES, {})
    entries: list[AuditEntry] = []
    wrote = False
    for objects, operation in (
        (session.new, "create"),
        (session.dirty, "update"),
        (session.deleted, "delete"),
    ):
        for obj in list(objects):
            if isinstance(obj, AuditEntry):
                continue
            wrote = True
            kind = AUDITED.get(type(obj))
            if kind is None:
                continue
            if isinstance(obj, ActionAttempt) and obj.action_type not in _DOOR_ACTIONS:
                continue  # an access code's own attempt: its code's entry tells the change
            entry = _object_entry(actor, obj, kind, operation)
            if entry is None:
                continue
            key = (kind.name, entry.object_id)
            if key in seen:
                _merge(seen[key], entry)
            else:
                seen[key] = entry
                entries.append(entry)
    if not entries and wrote and not session.info.get(_AUDITED_FLAG):
        # A write that changed none of the audited tables (a webhook replay, a sandbox
        # simulation): the request itself is recorded, so no write goes unseen.
        entries.append(
            _entry(
                actor,
                "request",
                object_type=None,
                object_id=None,
                workspace_id=None,
                device_id=None,
                access_code_id=None,
                changes={},
            )
        )
    if entries:
        session.add_all(entries)
        session.info[_AUDITED_FLAG] = True


event.listen(Session, "before_flush", _before_flush)


def prune(session: Session, now: datetime, retention: timedelta) -> int:
    """Delete entries older than ``retention``; returns how many."""
    result = session.execute(delete(AuditEntry).where(AuditEntry.created_at < now - retention))
    return int(getattr(result, "rowcount", 0) or 0)


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as ``/audit_log/list`` and ``pinwarden audit --json`` show it."""
    return {
        "audit_log_entry_id": entry.audit_log_entry_id,
        "workspace_id": entry.workspace_id,
        "created_at": iso(entry.created_at),
        "actor": {"type": entry.actor_type, "id": entry.actor_id},
        "request_id": entry.request_id,
        "source_address": entry.source_address,
        "action": entry.action,
        "operation": entry.operation,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "device_id": entry.device_id,
        "access_code_id": entry.access_code_id,
        "changes": entry.changes,
    }


def find(
    session: Session,
    *,
    workspace_id: str | None = None,
    device_id: str | None = None,
    access_code_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    """Entries matching every filter given, oldest first (``since`` inclusive, ``until``
    exclusive); ``workspace_id`` None: every workspace (the CLI)."""
    stmt = select(AuditEntry)
    if workspace_id is not None:
        stmt = stmt.where(AuditEntry.workspace_id == workspace_id)
    if device_id is not None:
        stmt = stmt.where(AuditEntry.device_id == device_id)
    if access_code_id is not None:
        stmt = stmt.where(AuditEntry.access_code_id == access_code_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.created_at < until)
    stmt = stmt.order_by(AuditEntry.created_at, AuditEntry.seq).offset(offset).limit(limit)
    return session.scalars(stmt).all()
