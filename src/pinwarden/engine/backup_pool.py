"""The backup access code pool (R174–R178): spare PINs kept programmed on a lock, ready to
hand out when a guest's code does not work.

Members are ordinary managed codes with ``is_backup`` set: the reconciler programs and
watches them like any other. This module only tops the pool up and says whether a member
is ready.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from pinwarden.domain.codes import NoCodeAvailable, generate_code
from pinwarden.domain.issues import error, with_error, without_errors
from pinwarden.engine.rows import CodeRow
from pinwarden.store.tables import AccessCode, Device

# Spare codes kept on each lock whose pool is enabled (the number is not documented).
POOL_SIZE = 2
EMPTY = "empty_backup_access_code_pool"
# Backup PINs are secrets handed to people at a door: draw them from the OS.
_RNG = random.SystemRandom()


def is_member(code: CodeRow) -> bool:
    """An unpulled pool member (a pulled one has taken on its original's window)."""
    return code.is_backup and code.ends_at is None and code.deleted_at is None


def refill(
    session: Session, device: Device, codes: Sequence[CodeRow], held: set[str], now: datetime
) -> bool:
    """Top the pool of ``device`` up to :data:`POOL_SIZE` and show ``EMPTY`` on the device
    while no member is ready on the lock. ``held``: every other PIN known on the lock (as
    reported, and of its unmanaged codes). Returns whether members were added (they still
    have to be programmed)."""
    members = [c for c in codes if is_member(c)]
    taken = held | {c.code for c in codes if c.code}
    rules = device.caps.rules_for(device.reported_code_lengths)
    added = False
    for _ in range(POOL_SIZE - len(members)):
        try:
            pin = generate_code(rules, _RNG, avoid=taken)
        except NoCodeAvailable:
            break
        taken.add(pin)
        access_code_id = str(uuid.uuid4())
        session.add(
            AccessCode(
                access_code_id=access_code_id,
                workspace_id=device.workspace_id,
                device_id=device.device_id,
                name=f"Backup {access_code_id[:8]} (pinwarden)",
                code=pin,
                status="setting",
                created_at=now,
                is_external_modification_allowed=False,
                # Handed out with a window later; programming it plainly now means
                # pulling it never has to touch the lock.
                prefer_native_scheduling=False,
                is_one_time_use=False,
                is_offline_access_code=False,
                is_backup=True,
                errors=[],
                warnings=[],
                revision=1,
                was_on_device=False,
            )
        )
        added = True
    if any(m.status == "set" for m in members):
        device.errors = without_errors(device.errors, {EMPTY})
    else:
        show_empty(device, now)
    return added


def show_empty(device: Device, now: datetime) -> None:
    """Give the device the ``empty_backup_access_code_pool`` error, once."""
    device.errors, _ = with_error(
        device.errors,
        error(
            EMPTY,
            "The backup access code pool has no code ready on the lock",
            now,
            is_device_error=True,
        ),
    )
