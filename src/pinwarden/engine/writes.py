"""Group commit for the engine's fenced writes.

A pass writes a few small transactions (reserve slots, record outcomes, release the
lease), and with many passes in flight their fixed costs were the engine's cost. Writes
that arrive while a transaction runs go together in the next one
(:class:`pinwarden.batching.Batcher`): one transaction, one fence query and one flush for
the group, each write still fenced by its own claim. The fence: every write first finds
its device row locked and still stamped with its claim's token (see
:mod:`pinwarden.engine.lease`); if not, it runs nothing and raises :class:`LeaseLost`.

A write that raises anything else spoils its group: the group rolls back and the batcher
runs each of its writes again in a transaction of its own, so one failing pass never costs
another its work. Writes are plain functions of the session and the device row, so running one
again after a rollback is safe. The code rows the group's passes changed are written last,
in bulk (:func:`pinwarden.engine.rows.write_back`), and so are the events they recorded
(:func:`pinwarden.store.events.insert_deferred`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinwarden.batching import Batcher, Outcome
from pinwarden.engine.lease import Claim, LeaseLost
from pinwarden.engine.rows import GROUP_DEVICES, write_back
from pinwarden.store.db import Database
from pinwarden.store.events import defer_events, insert_deferred
from pinwarden.store.tables import Device

T = TypeVar("T")
Write = tuple[Claim, Callable[[Session, Device], Any]]

# Enough that a busy worker shares a few transactions; few enough that a group's
# transaction stays short (API writes on SQLite queue behind it).
MAX_GROUP = 256


class GroupWriter:
    """Runs fenced writes, several passes' to a transaction."""

    def __init__(self, db: Database, max_group: int = MAX_GROUP) -> None:
        self._db = db
        self._batcher: Batcher[Write, Any] = Batcher(self._commit, max_group, "engine writes")

    async def run(self, claim: Claim, fn: Callable[[Session, Device], T]) -> T:
        """``fn(session, device)`` in a write transaction, only while ``claim`` holds the
        device; raises :class:`LeaseLost` (having run nothing) when it does not."""
        return cast(T, await self._batcher.submit((claim, fn)))

    def _commit(self, group: list[Write]) -> list[Outcome[Any]]:
        with self._db.write() as session:
            ids = sorted({claim.device_id for claim, _fn in group})
            session.info[GROUP_DEVICES] = ids
            # Nothing a group's writes do reads events back: they are inserted together.
            defer_events(session)
            devices = {
                d.device_id: d
                for d in session.scalars(
                    select(Device)
                    .where(Device.device_id.in_(ids))
                    .order_by(Device.device_id)  # one locking order: no deadlocks
                    .with_for_update()
                )
            }
            outcomes = [_fenced(session, devices.get(w[0].device_id), *w) for w in group]
            write_back(session)
            insert_deferred(session)
            return outcomes


def _fenced(
    session: Session, device: Device | None, claim: Claim, fn: Callable[[Session, Device], Any]
) -> Outcome[Any]:
    if device is None or device.lease_owner != claim.token:
        return None, LeaseLost(claim)
    return fn(session, device), None
