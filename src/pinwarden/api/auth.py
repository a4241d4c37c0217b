"""API keys: ``seam_`` tokens the official SDK accepts, stored hashed, checked in constant time.

A key reads ``seam_<key_id>_<secret>`` (sandbox keys: ``seam_test<…>``). Only the key id
is stored in clear, to find the row; the secret is kept as a SHA-256 digest and compared
with :func:`hmac.compare_digest`. A revoked key (``revoked_at`` set) is refused from the
next request on, in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pinwarden.store.db import Database
from pinwarden.store.tables import ApiKey, Workspace

_PREFIX = "seam_"
_UNUSED_DIGEST = hashlib.sha256(b"pinwarden-no-such-key").hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the workspace the key belongs to."""

    workspace_id: str
    is_sandbox: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(session: Session, workspace: Workspace, now: datetime) -> str:
    """Create a key for ``workspace``; the clear text is returned once and never stored."""
    key_id = ("test" if workspace.is_sandbox else "") + uuid.uuid4().hex[:16]
    secret = secrets.token_hex(24)
    session.add(
        ApiKey(
            key_id=key_id,
            workspace_id=workspace.workspace_id,
            secret_hash=_digest(secret),
            created_at=now,
        )
    )
    return f"{_PREFIX}{key_id}_{secret}"


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


# Built once with a bound parameter: SQLAlchemy then reuses its compiled form and cache
# key, which cost more than the query itself when rebuilt per request.
_LOOKUP = (
    select(ApiKey.secret_hash, Workspace.workspace_id, Workspace.is_sandbox)
    .join(Workspace, Workspace.workspace_id == ApiKey.workspace_id)
    .where(ApiKey.key_id == bindparam("key_id"), ApiKey.revoked_at.is_(None))
)


class ApiKeyVerifier:
    """Checks bearer tokens against the database on every request.

    No cache: revocation must hold at once, also for keys revoked by another process
    (``pinwarden api-key revoke``, another replica on PostgreSQL), and any cache would
    need that same per-request look at shared state to stay true. The look is one
    primary-key read on a plain connection, without an ORM session or a transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header, or None."""
        parsed = _parse(authorization)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._db.rows() as conn:
            row = conn.execute(_LOOKUP, {"key_id": key_id}).first()
        found = None if row is None else (row.secret_hash, Principal(row[1], row.is_sandbox))
        # Compare even when the key id is unknown, so timing does not reveal which ids exist.
        stored = found[0] if found is not None else _UNUSED_DIGEST
        if not hmac.compare_digest(stored, _digest(secret)) or found is None:
            return None
        return found[1]
