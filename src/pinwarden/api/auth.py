"""API keys: ``seam_`` tokens the official SDK accepts, stored hashed, checked in constant time.

A key reads ``seam_<key_id>_<secret>`` (sandbox keys: ``seam_test<…>``). Only the key id
is stored in clear, to find the row; the secret is kept as a SHA-256 digest and compared
with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

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


def authenticate(session: Session, authorization: str | None) -> Principal | None:
    """The principal for an ``Authorization: Bearer`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token.startswith(_PREFIX):
        return None
    key_id, sep, secret = token[len(_PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 40:
        return None
    row = session.get(ApiKey, key_id)
    # Compare even when the key id is unknown, so timing does not reveal which ids exist.
    stored = row.secret_hash if row is not None else _UNUSED_DIGEST
    if not hmac.compare_digest(stored, _digest(secret)) or row is None:
        return None
    workspace = session.get(Workspace, row.workspace_id)
    if workspace is None:
        return None
    return Principal(workspace.workspace_id, workspace.is_sandbox)
