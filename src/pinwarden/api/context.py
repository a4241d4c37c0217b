"""What every route handler receives besides its validated parameters."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

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
    url: str
    # The calling key's id ("" when the caller is not an API key).
    api_key_id: str = ""
