"""API keys: ``seam_`` tokens the official SDK accepts, stored hashed, checked in constant time.

A key reads ``seam_<key_id>_<secret>`` (sandbox keys: ``seam_test<…>``). Only the key id
is stored in clear, to find the row; the secret is kept as a SHA-256 digest and compared
with :func:`hmac.compare_digest`. A revoked key (``revoked_at`` set) or an expired one
(``expires_at`` passed) is refused from the next request on, in every process: the check
is part of the one statement every request runs. A key's ``last_used_at`` is written at
most once a minute per key (the row says when it was last written, and each process
remembers what it wrote), so busy keys cost no write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pinwarden.clock import Clock, SystemClock
from pinwarden.store.db import Database
from pinwarden.store.prepared import PreparedRead
from pinwarden.store.tables import ApiKey, Workspace

_PREFIX = "seam_"
_UNUSED_DIGEST = hashlib.sha256(b"pinwarden-no-such-key").hexdigest()

log = logging.getLogger(__name__)

# ``last_used_at`` is at most this stale.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, and the workspace it belongs to."""

    workspace_id: str
    is_sandbox: bool
    key_id: str = ""
    read_only: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(
    session: Session,
    workspace: Workspace,
    now: datetime,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    read_only: bool = False,
) -> str:
    """Create a key for ``workspace``; the clear text is returned once and never stored."""
    return issue(session, workspace, now, name=name, expires_at=expires_at, read_only=read_only)[1]


def issue(
    session: Session,
    workspace: Workspace,
    now: datetime,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    read_only: bool = False,
) -> tuple[ApiKey, str]:
    """A new key for ``workspace``: its row and its clear text (shown once, never stored)."""
    key_id = ("test" if workspace.is_sandbox else "") + uuid.uuid4().hex[:16]
    secret = secrets.token_hex(24)
    row = ApiKey(
        key_id=key_id,
        workspace_id=workspace.workspace_id,
        secret_hash=_digest(secret),
        created_at=now,
        name=name,
        expires_at=expires_at,
        is_read_only=read_only,
    )
    session.add(row)
    return row, f"{_PREFIX}{key_id}_{secret}"


def key_id_of(token_or_id: str) -> str:
    """The key id in a whole key (``seam_<id>_<secret>``), or the id itself."""
    if token_or_id.startswith(_PREFIX):
        return token_or_id.removeprefix(_PREFIX).partition("_")[0]
    return token_or_id


def _parse(authorization: str | None) -> tuple[str, str] | None:
    """``(key_id, secret)`` from an ``Authorization: Bearer seam_…`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(_PREFIX):
        return None
    key_id, sep, secret = token[len(_PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 40:
        return None
    return key_id, secret


# Every request runs it: prepared once, run on the driver's cursor (store/prepared.py).
_LOOKUP = PreparedRead(
    select(
        ApiKey.secret_hash,
        Workspace.workspace_id,
        Workspace.is_sandbox,
        ApiKey.is_read_only,
        ApiKey.last_used_at,
    )
    .join(Workspace, Workspace.workspace_id == ApiKey.workspace_id)
    .where(
        ApiKey.key_id == bindparam("key_id"),
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > bindparam("now")),
    )
)

_TOUCH = (
    update(ApiKey)
    .where(ApiKey.key_id == bindparam("touched_key_id"))
    .values(last_used_at=bindparam("touched_at"))
)


class ApiKeyVerifier:
    """Checks bearer tokens against the database on every request.

    No cache: revocation must hold at once, also for keys revoked by another process
    (``pinwarden api-key revoke``, another replica on PostgreSQL), and any cache would
    need that same per-request look at shared state to stay true. The look is one
    primary-key read on a plain connection, without an ORM session or a transaction;
    a read request runs it on the connection its own read then uses.
    """

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock: Clock = clock or SystemClock()
        # What this process last wrote as each key's last use.
        self._touched: dict[str, datetime] = {}
        self._touch_lock = threading.Lock()

    def authenticate(
        self, authorization: str | None, conn: Connection | None = None
    ) -> Principal | None:
        """The principal for an ``Authorization`` header, or None; ``conn``: a
        :meth:`~pinwarden.store.db.Database.rows` connection to look on (else its own)."""
        parsed = _parse(authorization)
        if parsed is None:
            return None
        key_id, secret = parsed
        now = self._clock.now()
        values = {"key_id": key_id, "now": now}
        if conn is not None:
            row = _LOOKUP.first(conn, values)
        else:
            with self._db.rows() as own:
                row = _LOOKUP.first(own, values)
        # Compare even when the key id is unknown, so timing does not reveal which ids exist.
        stored = row[0] if row is not None else _UNUSED_DIGEST
        if not hmac.compare_digest(stored, _digest(secret)) or row is None:
            return None
        _secret_hash, workspace_id, is_sandbox, read_only, last_used_at = row
        self._touch(key_id, last_used_at, now)
        return Principal(workspace_id, is_sandbox, key_id, read_only)

    def _touch(self, key_id: str, last_used: datetime | None, now: datetime) -> None:
        """Write ``now`` as the key's last use when the row's is a minute old or more and
        this process has not written it in the last minute."""
        if last_used is not None and now - last_used < TOUCH_EVERY:
            return
        with self._touch_lock:
            mine = self._touched.get(key_id)
            if mine is not None and now - mine < TOUCH_EVERY:
                return
            self._touched[key_id] = now
            if len(self._touched) > 10_000:  # keys come and go: forget the old ones
                horizon = now - TOUCH_EVERY
                self._touched = {k: t for k, t in self._touched.items() if t > horizon}
        try:
            with self._db.write() as session:
                session.connection().execute(_TOUCH, {"touched_key_id": key_id, "touched_at": now})
        except SQLAlchemyError as exc:
            # The request goes on: a missed last-use time is better than a refused call.
            log.warning("could not record the last use of API key %s: %s", key_id, exc)
