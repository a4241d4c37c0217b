"""Slowing down API-key guessing: bad keys from one address earn that address a wait.

Each source address has a score: every request with a bad key (one given but unknown,
revoked, expired or wrong; a request with no key at all does not count) adds 1, and the
score decays exponentially with a time constant of a minute. While it is at ``limit``
or above, every request from that address gets ``429`` with ``Retry-After`` before its
key is even looked at (a good key too: answering would tell the guesser which key was
good). So a burst of ``limit`` bad keys is refused at once, and a steady guesser gets
about ``limit`` tries a minute. Other addresses are never affected.

The scores live in this process's memory: each API replica counts on its own (a guesser
spread over N replicas gets N times the tries; ``serve --processes N`` gives each of its
processes ``ceil(limit / N)`` instead, see serving.py), and a restart forgets them. Addresses
whose score has decayed away are forgotten, so memory stays bounded.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta

from pinwarden.api.errors import SeamError
from pinwarden.api.ratelimit import RATE_LIMITED
from pinwarden.clock import Clock

DECAY = timedelta(minutes=1)
_FORGET_BELOW = 0.01
_SWEEP_ABOVE = 10_000


class AuthFailureGuard:
    """Per-address scores of bad keys, decaying over :data:`DECAY`; ``limit`` 0: off."""

    def __init__(self, clock: Clock, limit: int, decay: timedelta = DECAY) -> None:
        if limit < 0:
            raise ValueError("limit cannot be negative")
        self._clock = clock
        self._limit = limit
        self._tau = decay.total_seconds()
        self._scores: dict[str, tuple[float, datetime]] = {}
        self._lock = threading.Lock()

    def _score(self, address: str, now: datetime) -> float:
        found = self._scores.get(address)
        if found is None:
            return 0.0
        score, at = found
        elapsed = max(0.0, (now - at).total_seconds())
        return score * math.exp(-elapsed / self._tau)

    def check(self, address: str | None) -> None:
        """Raise 429 while ``address`` is held back."""
        if not self._limit or address is None:
            return
        now = self._clock.now()
        with self._lock:
            score = self._score(address, now)
        if score >= self._limit:
            wait = max(1, math.ceil(self._tau * math.log(score / self._limit)))
            raise SeamError(
                429,
                RATE_LIMITED,
                f"Too many requests with invalid API keys from this address; retry in {wait} s",
                data={"retry_after_seconds": wait},
                headers={"Retry-After": str(wait)},
            )

    def failed(self, address: str | None) -> None:
        """Count one bad key from ``address``."""
        if not self._limit or address is None:
            return
        now = self._clock.now()
        with self._lock:
            self._scores[address] = (self._score(address, now) + 1.0, now)
            if len(self._scores) > _SWEEP_ABOVE:
                self._scores = {
                    a: (s, t)
                    for a, (s, t) in self._scores.items()
                    if self._score(a, now) >= _FORGET_BELOW
                }
