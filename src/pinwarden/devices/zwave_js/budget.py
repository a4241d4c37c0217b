"""How much a Z-Wave node may be asked, and when a dead one is asked again.

Pure rules, time passed in: the driver holds one :class:`NodeBudget` per node and asks it
before every command it would put on the mesh. A Z-Wave mesh carries a few dozen frames a
second for the whole house, and a battery lock wakes its radio for each one: retry
storms (the Keymaster pain point) drain batteries and starve every other device.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)


@dataclass
class NodeBudget:
    """Commands one node was sent in the last hour, capped at ``per_hour``; and, while
    the node is dead, when it may next be pinged (back-off from ``probe_base`` doubling
    up to ``probe_cap``)."""

    per_hour: int
    probe_base: timedelta = timedelta(minutes=1)
    probe_cap: timedelta = timedelta(minutes=15)
    _sent: deque[datetime] = field(default_factory=deque)
    _probes: int = 0
    _next_probe_at: datetime | None = None

    def _forget_before(self, now: datetime) -> None:
        while self._sent and self._sent[0] <= now - HOUR:
            self._sent.popleft()

    def spent_until(self, now: datetime, commands: int = 1) -> datetime | None:
        """None when ``commands`` more may be sent now; otherwise when they may."""
        self._forget_before(now)
        over = len(self._sent) + commands - self.per_hour
        if over <= 0:
            return None
        if commands > self.per_hour:
            return now + HOUR  # never in one go: the caller sends fewer
        return self._sent[over - 1] + HOUR

    def record(self, now: datetime) -> None:
        """One command went out."""
        self._sent.append(now)

    def sent_last_hour(self, now: datetime) -> int:
        """Commands sent in the hour before ``now``."""
        self._forget_before(now)
        return len(self._sent)

    def probe_due(self, now: datetime) -> bool:
        """Whether a dead node may be pinged now."""
        return self._next_probe_at is None or now >= self._next_probe_at

    def probe_failed(self, now: datetime) -> datetime:
        """A ping of the dead node went unanswered; returns when the next one is due."""
        delay = min(self.probe_base * (2**self._probes), self.probe_cap)
        self._probes += 1
        self._next_probe_at = now + delay
        return self._next_probe_at

    def alive(self) -> None:
        """The node answered: the next time it dies, probing starts over."""
        self._probes = 0
        self._next_probe_at = None
