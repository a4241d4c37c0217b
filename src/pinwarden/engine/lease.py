"""Leases on devices: what a claim is, and the fence every write of a pass goes through.

A worker claims a due device by stamping ``lease_owner`` with a token unique to that
claim. Every transaction a pass writes in starts by locking the device row and checking
that the token is still there (:func:`owned`); if the lease lapsed and another claim took
the device, the check fails, the transaction rolls back, and the pass ends having written
nothing. Tokens are per claim, not per process, so a pass fenced out by a newer claim of the
same process is fenced out too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from pinwarden.store.db import Database
from pinwarden.store.tables import Device


@dataclass(frozen=True)
class Claim:
    """One lease on one device: who holds it, and the device's ``wake_seq`` at claim time."""

    device_id: str
    wake_seq: int
    token: str


class LeaseLost(Exception):
    """The device is no longer leased by this claim (or is gone): the pass must stop."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(f"lease on device {claim.device_id} lost ({claim.token})")
        self.claim = claim


@contextmanager
def owned(db: Database, claim: Claim) -> Iterator[tuple[Session, Device]]:
    """A write transaction on ``claim``'s device, only while the claim still holds it.

    Raises :class:`LeaseLost` (rolling back) when it does not.
    """
    with db.write() as session:
        device = session.get(Device, claim.device_id, with_for_update=True)
        if device is None or device.lease_owner != claim.token:
            raise LeaseLost(claim)
        yield session, device
