"""What ``/ready`` checks: the database, its schema, and this process's worker."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from pinwarden.config import Settings
from pinwarden.engine.worker import Worker
from pinwarden.store import migrate
from pinwarden.store.db import Database

OK = "ok"


class Readiness:
    """Runs the readiness checks; ``worker`` is None when this process runs none."""

    def __init__(self, db: Database, settings: Settings, worker: Worker | None) -> None:
        self._db = db
        self._worker = worker
        # An idle worker looks every idle_poll; a pass holds it no longer than a few
        # lease periods before the lease machinery would have given up on it.
        self.stale_after = max(
            3 * settings.lease_duration.total_seconds(), 3 * settings.idle_poll.total_seconds()
        )

    def check(self) -> dict[str, str]:
        """Each check's name, and ``"ok"`` or what is wrong."""
        checks: dict[str, str] = {}
        try:
            with self._db.read() as session:
                current = migrate.current_revisions(session.connection())
        except SQLAlchemyError as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        else:
            checks["database"] = OK
            checks["migrations"] = (
                OK
                if current == migrate.HEADS
                else f"database at {_names(current)}, this version expects {_names(migrate.HEADS)}"
            )
        if self._worker is not None:
            age = self._worker.heartbeat_age()
            if age is None:
                checks["worker"] = "not started yet"
            elif age > self.stale_after:
                checks["worker"] = f"no heartbeat for {age:.0f} s (limit {self.stale_after:.0f} s)"
            else:
                checks["worker"] = OK
        return checks


def _names(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "no revision"
