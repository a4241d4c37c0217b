"""The sandbox's own tables: each simulated lock, its memory, and what it reports.

The core schema knows nothing of these (ARCHITECTURE decision 10); they share the
metadata only so that one migration history covers the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pinwarden.store.sealed import Sealed, SealedJSON, keep_digest
from pinwarden.store.tables import ID, Base, UTCDateTime


class SandboxLock(Base):
    """One simulated lock, addressed by ``lock_id`` (its devices row's ``address``)."""

    __tablename__ = "sandbox_locks"

    lock_id: Mapped[str] = mapped_column(ID, primary_key=True)
    connected_account_id: Mapped[str] = mapped_column(
        ID, ForeignKey("connected_accounts.connected_account_id", ondelete="CASCADE"), index=True
    )
    model_key: Mapped[str] = mapped_column(String(60))
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    battery_level: Mapped[float] = mapped_column(Float, default=0.9)
    # Fault injection (latency_ms, failure_rate, reject_rate, drop_after_ack, mask_pins,
    # hub_disconnected).
    faults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The lock's memory of offline PINs already used.
    used_offline_pins: Mapped[list[str]] = mapped_column(
        SealedJSON("sandbox_locks.used_offline_pins"), default=list
    )


class SandboxSlot(Base):
    """The memory of a simulated lock: what its keypad would accept, and when.

    A set or remove takes the lock some time, so a row becomes visible at
    ``visible_from`` and disappears at ``gone_at``.
    """

    __tablename__ = "sandbox_slots"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    lock_id: Mapped[str] = mapped_column(
        ID, ForeignKey("sandbox_locks.lock_id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[int] = mapped_column(Integer)
    # The lock's memory is sealed like pinwarden's own PINs; the keypad finds a PIN by digest.
    code: Mapped[str] = mapped_column(Sealed("sandbox_slots.code"))
    code_digest: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    visible_from: Mapped[datetime] = mapped_column(UTCDateTime)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SandboxLockEvent(Base):
    """Something a simulated lock reported on its own, waiting for the driver's
    :meth:`~pinwarden.sandbox.driver.SandboxDriver.events` stream.

    Kept in the database so that a simulation sent to one process reaches the engine of
    another; a row is deleted as it is handed out.
    """

    __tablename__ = "sandbox_lock_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    lock_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # One of the DeviceEvent class names, and its fields other than address and time.
    kind: Mapped[str] = mapped_column(String(40))
    # Sealed: a keypad report carries the PIN typed.
    payload: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("sandbox_lock_events.payload"), default=dict
    )


keep_digest(SandboxSlot.code, "code_digest")
