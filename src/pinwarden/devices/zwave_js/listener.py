"""Which process records an account's lock reports.

Every process that runs the engine keeps its own connection to each Z-Wave JS server (it
sends commands through it), and a server sends every report to every client: with two
worker processes each keypad unlock would be recorded twice. So one process at a time
holds the account's listener lease (a row lease on ``connected_accounts``, renewed every
third of ``LEASE``) and only it hands reports to the engine. A process that stops gives
the lease up, and on PostgreSQL the commit's NOTIFY wakes the others' listeners (the
``listeners`` loop of :mod:`pinwarden.store.notify`), so one takes over at once rather
than at its next renewal (on SQLite, whose datagram wake-ups reach one process per loop,
at that renewal). One that dies leaves it to lapse, and another takes over then (reports in
between are not recorded; codes are still checked by the drift read).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import or_, update

from pinwarden.clock import Clock
from pinwarden.store.db import Database
from pinwarden.store.notify import LISTENER_RELEASED
from pinwarden.store.tables import ConnectedAccount

LEASE = timedelta(seconds=30)


class ListenerLeases:
    """The listener leases of one process (one owner id for all its accounts)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.owner = uuid.uuid4().hex

    def claim(self, connected_account_id: str) -> bool:
        """Take or renew the account's lease; whether this process holds it now."""
        now = self._clock.now()
        with self._db.write() as session:
            taken = session.execute(
                update(ConnectedAccount)
                .where(
                    ConnectedAccount.connected_account_id == connected_account_id,
                    or_(
                        ConnectedAccount.listener_id.is_(None),
                        ConnectedAccount.listener_id == self.owner,
                        ConnectedAccount.listener_until < now,
                    ),
                )
                .values(listener_id=self.owner, listener_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(taken, "rowcount", 0))

    def release(self, connected_account_id: str) -> None:
        """Give the lease up, so another process takes over at once."""
        with self._db.write() as session:
            session.info[LISTENER_RELEASED] = True
            session.execute(
                update(ConnectedAccount)
                .where(
                    ConnectedAccount.connected_account_id == connected_account_id,
                    ConnectedAccount.listener_id == self.owner,
                )
                .values(listener_id=None, listener_until=None)
                .execution_options(synchronize_session=False)
            )
