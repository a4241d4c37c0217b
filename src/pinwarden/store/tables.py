"""The schema. Every change here needs an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pinwarden.devices.capabilities import LockCapabilities
from pinwarden.store.sealed import Sealed, SealedJSON, keep_digest
from pinwarden.timeutil import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


ID = String(36)


class Base(DeclarativeBase):
    """Declarative base for all tables."""


class Workspace(Base):
    __tablename__ = "workspaces"

    workspace_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str] = mapped_column(String(200))
    is_sandbox: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by ``pinwarden api-key revoke``; every request checks it (api/auth.py).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A name for people; refused from this instant on (None: never expires).
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A read-only key may call reads only; every write answers 403.
    is_read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Updated at most once a minute per key and process (api/auth.py).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SealingKey(Base):
    """A key that secrets in this database are sealed with (by id, never the key): a
    process that does not hold every one of them refuses to start (store/sealing_keys.py)."""

    __tablename__ = "sealing_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectedAccount(Base):
    __tablename__ = "connected_accounts"

    connected_account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(60))
    # The driver whose ``discover`` finds this account's locks, and its settings for the
    # account (a server URL, credentials): never shown by the API nor logged, sealed at rest.
    driver: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("connected_accounts.config"), default=dict
    )
    # Bumped whenever the account's devices are brought in line with a discovery, so a
    # discovery that ran meanwhile (and may have seen a lock that is gone) is not applied.
    discovery_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while the account is disconnected (sandbox simulation): its locks are left alone.
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The process that hears the account's locks, until when (drivers whose every process
    # receives the same reports, such as Z-Wave JS, record them from one process only).
    listener_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    listener_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE")
    )
    connected_account_id: Mapped[str] = mapped_column(
        ID, ForeignKey("connected_accounts.connected_account_id", ondelete="CASCADE")
    )
    driver: Mapped[str] = mapped_column(String(40))
    # The driver's name for the lock (DeviceRef.address), unique among its locks.
    address: Mapped[str] = mapped_column(String(200))
    # What the lock reports about itself (LockCapabilities.to_json), refreshed by discovery.
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Between 0 and 1, as last reported; None while the lock has not said.
    battery_level: Mapped[float | None] = mapped_column(Float, nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    custom_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=True)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Work-queue columns (ARCHITECTURE decision 2).
    next_reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Bumped by every API write that affects the device, so a reconcile that was
    # already running knows to go round again instead of sleeping.
    wake_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    # The next read of the lock asks the lock itself from then on (None: at once): the
    # drift check, or a slot the lock said changed.
    next_fresh_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # PIN lengths reported through report_device_constraints (R107); None = the model's.
    reported_code_lengths: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    # The key offline PINs are enciphered with (R179), made with the first one. The lock
    # holds the same key (for a real lock, the vendor does).
    offline_code_secret: Mapped[str | None] = mapped_column(
        Sealed("devices.offline_code_secret"), nullable=True
    )
    # Once on, the reconciler keeps backup codes programmed on the lock (R175–R176).
    backup_pool_enabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    __table_args__ = (
        Index("ix_devices_workspace_created", "workspace_id", "created_at", "device_id"),
        Index("ix_devices_next_reconcile_at", "next_reconcile_at"),
        # The worker's next wake-up: only leased devices have one.
        Index("ix_devices_lease_until", "lease_until"),
        # devices/list by connected account, devices/get by name.
        Index("ix_devices_account_created", "connected_account_id", "created_at", "device_id"),
        Index("ix_devices_workspace_name", "workspace_id", "name"),
        UniqueConstraint("driver", "address", name="uq_devices_driver_address"),
    )

    @property
    def caps(self) -> LockCapabilities:
        """The stored capabilities, typed."""
        return LockCapabilities.from_json(self.capabilities)


class AccessCode(Base):
    __tablename__ = "access_codes"

    access_code_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(ID, ForeignKey("devices.device_id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Sealed at rest (store/sealed.py); found by PIN through ``code_digest``.
    code: Mapped[str | None] = mapped_column(Sealed("access_codes.code"), nullable=True)
    code_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)
    common_code_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_external_modification_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    prefer_native_scheduling: Mapped[bool] = mapped_column(Boolean, default=True)
    is_one_time_use: Mapped[bool] = mapped_column(Boolean, default=False)
    is_offline_access_code: Mapped[bool] = mapped_column(Boolean, default=False)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Desired-state version: every API change bumps it, so the reconciler can tell
    # whether what it computed still applies.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the reconciler knows of the lock side.
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    op_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)
    op_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    op_settles_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    was_on_device: Mapped[bool] = mapped_column(Boolean, default=False)
    # The PIN last acknowledged into ``slot``: what the slot holds when the lock hides PINs.
    slot_code: Mapped[str | None] = mapped_column(Sealed("access_codes.slot_code"), nullable=True)
    # Start of the current setting/removing episode, for delay warnings (R142).
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_scheduled_on_device: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # A member of the device's backup pool (R176). Members are ongoing until pulled; a
    # pulled one takes the window of the code it stands in for.
    is_backup: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pulled_backup_access_code_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    # When a one-time-use code first opened the lock; it is taken off the lock then.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # pinwarden extension: weekly windows within starts_at/ends_at (domain/recurrence.py),
    # as Recurrence.to_json gives them; None for every other code.
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_access_codes_device_created", "device_id", "created_at", "access_code_id"),
        Index("ix_access_codes_workspace_created", "workspace_id", "created_at", "access_code_id"),
        Index("ix_access_codes_device_digest", "device_id", "code_digest"),
    )


class UnmanagedAccessCode(Base):
    """A PIN found on a lock that pinwarden did not put there (R187), by the slot holding it.

    The reconciler keeps these rows in step with what the lock reports; pinwarden never
    programs over them.
    """

    __tablename__ = "unmanaged_access_codes"

    access_code_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE")
    )
    device_id: Mapped[str] = mapped_column(ID, ForeignKey("devices.device_id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    # None when the lock hides PINs. Sealed, found by ``code_digest``.
    code: Mapped[str | None] = mapped_column(Sealed("unmanaged_access_codes.code"), nullable=True)
    code_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by unmanaged/delete: the reconciler clears the slot, then drops the row.
    delete_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("device_id", "slot", name="uq_unmanaged_access_codes_device_slot"),
        Index(
            "ix_unmanaged_access_codes_device_created", "device_id", "created_at", "access_code_id"
        ),
    )


class ReplayGuard(Base):
    """A recent non-idempotent request, by a digest of its parameters, and what it created.

    The SDK retries PUT requests after a 5xx or a timeout (R52–R53); a retried
    ``create_multiple`` finds its first run here and answers with the same codes.
    """

    __tablename__ = "replay_guards"

    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    access_code_ids: Mapped[list[str]] = mapped_column(JSON)


class RateLimitAdmission(Base):
    """One access-code write admitted on a device (R51), kept while it counts.

    The sliding-window log of :mod:`pinwarden.api.ratelimit`, shared by every API process
    on the database; a device's rows older than the window go at its next admission.
    """

    __tablename__ = "rate_limit_admissions"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[str] = mapped_column(ID, ForeignKey("devices.device_id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(10))
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_rate_limit_admissions_device_action_at", "device_id", "action", "admitted_at"),
    )


class ActionAttempt(Base):
    __tablename__ = "action_attempts"

    action_attempt_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE")
    )
    action_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(10))
    # Sealed: a finished access-code attempt carries the code, PIN and all.
    result: Mapped[dict[str, Any] | None] = mapped_column(
        SealedJSON("action_attempts.result"), nullable=True
    )
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    device_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    access_code_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    # The access-code revision this attempt waits for; for a door attempt (LOCK_DOOR,
    # UNLOCK_DOOR), the device's wake_seq when it was queued, which orders them.
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_action_attempts_workspace_created", "workspace_id", "created_at"),
        # Every pass looks up its device's pending door attempts.
        Index("ix_action_attempts_device_status", "device_id", "status"),
    )


class Event(Base):
    """The outbox: written in the same transaction as the change it describes."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(ID, unique=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(80))
    device_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    access_code_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The payload's PINs (``code``, a ``changed_properties`` naming the code), kept apart
    # and sealed; see store/events.py.
    secrets: Mapped[dict[str, Any] | None] = mapped_column(
        SealedJSON("events.secrets"), nullable=True
    )

    # events/list and events/get filter by workspace and by each of these.
    __table_args__ = (
        Index("ix_events_workspace_created", "workspace_id", "created_at", "seq"),
        Index("ix_events_device_created", "device_id", "created_at", "seq"),
        Index("ix_events_access_code_created", "access_code_id", "created_at", "seq"),
        Index("ix_events_workspace_type_created", "workspace_id", "event_type", "created_at"),
        # The deliverer's prune (at start, then hourly) deletes what is past retention:
        # without this it reads every event, holding SQLite's write lock meanwhile.
        Index("ix_events_created", "created_at"),
    )


class Webhook(Base):
    """A subscriber URL. The secret signs deliveries, so it is kept (not hashed)."""

    __tablename__ = "webhooks"

    webhook_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(Sealed("webhooks.secret"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The lane lease: one deliverer process at a time sends this webhook's deliveries,
    # in order; another may take over once ``lane_until`` passes.
    lane_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lane_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """One event owed to one webhook: the outbox row the deliverer works through."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    webhook_id: Mapped[str] = mapped_column(
        ID, ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), index=True
    )
    event_seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("events.seq", ondelete="CASCADE"),
        index=True,
    )
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    """The delivery log: every HTTP attempt and how it went."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        index=True,
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """One change made through the API, the CLI or the console (store/audit.py): who,
    when, from where, to what, and the fields before and after (PINs masked, secrets
    left out). Written in the transaction of the change it describes."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    audit_log_entry_id: Mapped[str] = mapped_column(ID, unique=True)
    # No foreign key: the record of a change outlives what it changed.
    workspace_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # ``api_key`` (actor_id: the key id), ``cli`` (the OS user), ``console_user``.
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_address: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The route (``/access_codes/update``) or CLI command (``api-key revoke``).
    action: Mapped[str] = mapped_column(String(120))
    # ``create``, ``update``, ``delete``, or ``request`` for a write with no object diff.
    operation: Mapped[str] = mapped_column(String(10))
    object_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    access_code_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_log_workspace_created", "workspace_id", "created_at", "seq"),
        Index("ix_audit_log_device_created", "device_id", "created_at", "seq"),
        Index("ix_audit_log_access_code_created", "access_code_id", "created_at", "seq"),
        Index("ix_audit_log_actor_created", "actor_id", "created_at", "seq"),
        Index("ix_audit_log_created", "created_at"),
    )


keep_digest(AccessCode.code, "code_digest")
keep_digest(UnmanagedAccessCode.code, "code_digest")
