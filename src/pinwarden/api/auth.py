"""API keys: ``seam_`` tokens the official SDK accepts, stored hashed, checked in constant time.

A key reads ``seam_<key_id>_<secret>`` (sandbox keys: ``seam_test<…>``). Only the key id
is stored in clear, to find the row; the secret is kept as a SHA-256 digest and compared
with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

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


def _lookup(session: Session, key_id: str) -> tuple[str, Principal] | None:
    row = session.get(ApiKey, key_id)
    if row is None:
        return None
    workspace = session.get(Workspace, row.workspace_id)
    if workspace is None:
        return None
    return row.secret_hash, Principal(workspace.workspace_id, workspace.is_sandbox)


class ApiKeyVerifier:
    """Checks bearer tokens; remembers stored digests briefly to spare a query per request.

    Only the key id and the stored digest are cached, never a secret, and every request
    still pays the constant-time comparison.
    """

    def __init__(self, db: Database, ttl_seconds: float = 10.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, tuple[str, Principal] | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header, or None."""
        parsed = _parse(authorization)
        if parsed is None:
            return None
        key_id, secret = parsed
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is None or cached[0] < now:
            with self._db.read() as session:
                found = _lookup(session, key_id)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key_id] = (now + self._ttl, found)
        else:
            found = cached[1]
        # Compare even when the key id is unknown, so timing does not reveal which ids exist.
        stored = found[0] if found is not None else _UNUSED_DIGEST
        if not hmac.compare_digest(stored, _digest(secret)) or found is None:
            return None
        return found[1]
