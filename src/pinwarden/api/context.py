"""What every route handler receives besides its validated parameters."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from pinwarden.api.auth import ApiKeyVerifier
from pinwarden.api.bruteforce import AuthFailureGuard
from pinwarden.api.ratelimit import RateLimiter
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.store.db import Database


@dataclass
class Services:
    """Process-wide collaborators shared by all requests."""

    db: Database
    clock: Clock
    settings: Settings
    wake_worker: Callable[[], None]
    api_keys: ApiKeyVerifier
    rate_limits: RateLimiter
    rng: random.Random = field(default_factory=random.SystemRandom)
    # Holds back addresses that send bad API keys; None: no guard.
    auth_guard: AuthFailureGuard | None = None


@dataclass(frozen=True)
class RequestContext:
    """One authenticated request."""

    services: Services
    workspace_id: str
    is_sandbox: bool
    # The request's URL, or what works it out: only a list that issues a next page's URL
    # needs it, and building it costs more than many a whole read.
    location: str | Callable[[], str]
    # The calling key's id ("" when the caller is not an API key).
    api_key_id: str = ""
    # The connection the API-key check ran on, for reads to share (one checkout a request).
    conn: Connection | None = None

    @property
    def url(self) -> str:
        """The request's URL."""
        return self.location if isinstance(self.location, str) else self.location()

    @contextmanager
    def rows(self) -> Iterator[Connection]:
        """A connection for single-statement reads (:meth:`Database.rows`): the request's
        own when it has one, else a new one."""
        if self.conn is not None:
            yield self.conn
            return
        with self.services.db.rows() as conn:
            yield conn
