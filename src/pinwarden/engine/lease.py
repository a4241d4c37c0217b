"""Leases on devices: what a claim is, and the fence every write of a pass goes through.

A worker claims a due device by stamping ``lease_owner`` with a token unique to that
claim. Every write of a pass first finds the device row locked and still stamped with that
token (:mod:`pinwarden.engine.writes`); if the lease lapsed and another claim took the
device, the check fails, the write runs nothing, and the pass ends having written nothing
more. Tokens are per claim, not per process, so a pass fenced out by a newer claim of the
same process is fenced out too.
"""

from __future__ import annotations

from dataclasses import dataclass


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
