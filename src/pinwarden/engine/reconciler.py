"""``reconcile(claim)``: read the lock, plan, send operations, record the outcome.

When the driver confirmed every operation a pass sent, the pass reads the lock back (from
the driver's cache) and records what the next pass would have found as well (statuses
``set``, codes gone), so a code takes one pass, not two; anything still to send is left to
the next pass.

The plan is pure (:mod:`pinwarden.engine.plan`); this module does the I/O around it.
Nothing is held open across driver calls: the device is protected by its lease, every
write goes through the lease fence (:mod:`pinwarden.engine.writes`), and each code's
``revision`` tells whether an API write overtook the reconcile, in which case only the
lock-side facts are recorded and the device is looked at again at once. Database work runs
on a thread, batched with other passes' (:mod:`pinwarden.batching`), so drivers sharing the
event loop never wait for it. The pass returns a :class:`PassResult`; the worker owns
back-off and the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, cast

from sqlalchemy.orm import Session

from pinwarden.batching import Batcher, Outcome
from pinwarden.clock import Clock
from pinwarden.config import Settings
from pinwarden.devices.driver import (
    DeviceRejected,
    DeviceUnavailable,
    Driver,
    OpAck,
    OpOutcome,
    SlotOp,
    SlotReport,
)
from pinwarden.domain.issues import (
    UNREACHABLE_ERRORS,
    error,
    with_error,
    with_unreachable,
    without_errors,
)
from pinwarden.domain.recurrence import window_at
from pinwarden.domain.windows import belongs_on_lock, next_transition
from pinwarden.engine import backup_pool, doors, unmanaged
from pinwarden.engine.lease import Claim
from pinwarden.engine.plan import CodeState, Decision, DevicePlan, Held, plan_device
from pinwarden.engine.rows import CodeRow, reserve_slots, rows_of
from pinwarden.engine.snapshot import Snapshot, load_snapshots
from pinwarden.engine.writes import MAX_GROUP, GroupWriter
from pinwarden.metrics import Metrics
from pinwarden.store.db import Database
from pinwarden.store.events import record_event
from pinwarden.store.tables import AccessCode, ActionAttempt, Device
from pinwarden.store.views import access_code_view
from pinwarden.timeutil import iso

log = logging.getLogger(__name__)


def _window(report: SlotReport) -> tuple[datetime, datetime] | None:
    if report.starts_at is None or report.ends_at is None:
        return None
    return report.starts_at, report.ends_at


@dataclass(frozen=True)
class PassResult:
    """What a pass asks of the worker.

    ``wake_at``: when the device next needs a look (None: the periodic drift check).
    ``failed``: the lock failed; the worker backs off, and ``wake_at`` only bounds that
    (something that must happen sooner, such as a delay warning falling due).
    ``released``: the pass's last write also ran the worker's release (see
    :meth:`Reconciler.reconcile`), so the lease is already given up.
    """

    wake_at: datetime | None
    failed: bool = False
    released: bool = False


# The worker's release of the lease, given the pass's result (runs fenced, in a write).
Release = Callable[[Device, PassResult], None]


DELAY_WARNINGS = {"delay_in_setting_on_device", "delay_in_removing_from_device"}
EXTERNAL = "code_modified_external_to_seam"
SET_ERRORS = {
    "failed_to_set_on_device",
    "no_space_for_access_code_on_device",
    "duplicate_code_on_device",
    EXTERNAL,
}
REMOVE_ERRORS = {"failed_to_remove_from_device"}


# What recording a decision can change of a code (see Reconciler._apply_code), as a
# CodeState holds it.
_RECORDED = (
    "code",
    "status",
    "slot",
    "op_kind",
    "op_revision",
    "op_settles_at",
    "was_on_device",
    "slot_code",
    "is_scheduled_on_device",
)
_recorded = attrgetter(*_RECORDED)


def _released(release: Release | None, device: Device, result: PassResult) -> PassResult:
    if release is None:
        return result
    release(device, result)
    return replace(result, released=True)


class Reconciler:
    """Brings one device at a time to its desired state."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        drivers: Mapping[str, Driver],
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.drivers = dict(drivers)
        self._settings = settings
        self._metrics = metrics or Metrics()
        # Every fenced write of a pass, and the worker's release, goes through here.
        self.writes = GroupWriter(db)
        self._snapshots: Batcher[str, Snapshot | None] = Batcher(
            self._load, MAX_GROUP, "engine snapshots"
        )

    def _load(self, device_ids: list[str]) -> list[Outcome[Snapshot]]:
        with self._db.read() as session:
            found = load_snapshots(session, device_ids, self._clock.now())
        return [(found.get(device_id), None) for device_id in device_ids]

    async def reconcile(self, claim: Claim, release: Release | None = None) -> PassResult:
        """One full pass over the claimed device.

        ``release``: run in the same transaction as the pass's outcome, when the pass ends
        by recording one (the result then says ``released``), which saves the worker a
        write of its own per pass. Raises :class:`~pinwarden.engine.lease.LeaseLost` when
        the claim is fenced out; nothing of the pass is then recorded.
        """
        snap = await self._snapshots.submit(claim.device_id)
        if snap is None:
            return PassResult(wake_at=None)
        driver = self.drivers[snap.driver]
        # Door commands first: someone is waiting on each (R54), while the slot work
        # after them can take a real lock many seconds and does not depend on the bolt.
        for command in snap.door_commands:
            await self._run_door(claim, snap, driver, command)
        now = self._clock.now()
        if snap.account_disconnected:
            # Nothing can reach the lock; reconnecting the account wakes it (T19).
            return PassResult(wake_at=now + self._settings.drift_check_interval)
        try:
            reported = await driver.read_slots(snap.ref, fresh=snap.fresh)
        except DeviceUnavailable as exc:
            unreachable = exc
            return await self.writes.run(
                claim,
                lambda session, device: _released(
                    release, device, self._record_unreachable(session, device, unreachable)
                ),
            )
        plan = self._plan(snap.codes_at(now), reported, now, snap.slot_count)
        sent = [(d.access_code_id, d.op) for d in plan.decisions if d.op is not None]
        owned_slots = {d.slot for d in plan.decisions if d.slot is not None}
        sent += unmanaged.removal_ops(snap.unmanaged_removals, reported, owned_slots)
        outcomes: list[OpOutcome] = []
        landed: list[SlotReport] | None = None
        if sent:
            await self.writes.run(
                claim,
                lambda session, device: self._reserve_slots(session, device, snap, plan.decisions),
            )
            outcomes = await driver.apply(snap.ref, [op for _, op in sent])
            self._count_operations([op for _, op in sent], outcomes)
            landed = await self._read_back(driver, snap, outcomes)
        results: dict[str, OpOutcome] = {
            access_code_id: outcome
            for (access_code_id, _op), outcome in zip(sent, outcomes, strict=True)
        }
        return await self.writes.run(
            claim,
            lambda session, device: _released(
                release,
                device,
                self._apply(session, device, claim, snap, plan, reported, results, now, landed),
            ),
        )

    def _plan(
        self, codes: list[CodeState], reported: list[SlotReport], now: datetime, slot_count: int
    ) -> DevicePlan:
        return plan_device(
            codes,
            {s.slot: Held(s.code, _window(s)) for s in reported},
            now,
            self._settings.programming_lead_time,
            self._settings.native_preload,
            slot_count,
            self._settings.drift_check_interval,
        )

    async def _read_back(
        self, driver: Driver, snap: Snapshot, outcomes: list[OpOutcome]
    ) -> list[SlotReport] | None:
        """The lock's slots after the pass's operations, when the driver confirmed every
        one of them (so it knows the result without asking the lock), so the pass can
        record what they did rather than leave it to a pass of its own. None otherwise,
        for a pass that also removed unmanaged codes, and when the read fails: the next
        pass looks, as it would have anyway."""
        if snap.unmanaged_removals or not all(
            isinstance(o, OpAck) and o.confirmed for o in outcomes
        ):
            return None
        try:
            return await driver.read_slots(snap.ref, fresh=False)
        except Exception:
            # The operations were sent: what they did must still be recorded.
            log.warning("reading back device %s failed", snap.ref.device_id, exc_info=True)
            return None

    async def _run_door(
        self, claim: Claim, snap: Snapshot, driver: Driver, command: doors.DoorCommand
    ) -> None:
        """Carry out one door command (once: see :mod:`pinwarden.engine.doors`) and record
        how it went."""
        outcome: OpOutcome | doors.Unsent
        if doors.expired(command, self._clock.now()):
            outcome = "expired"
        elif snap.account_disconnected:
            outcome = "account_disconnected"
        else:
            outcome = await driver.set_locked(snap.ref, command.locked)
        await self.writes.run(
            claim,
            lambda session, device: doors.record(
                session, device, command, outcome, self._clock.now()
            ),
        )

    def _count_operations(self, ops: list[SlotOp], outcomes: list[OpOutcome]) -> None:
        for op, outcome in zip(ops, outcomes, strict=False):
            if isinstance(outcome, OpAck):
                label = "ack"
            elif isinstance(outcome, DeviceUnavailable):
                label = "unavailable"
            else:
                label = "rejected"
            self._metrics.lock_operations.labels(op.kind, label).inc()

    @staticmethod
    def _reserve_slots(
        session: Session, device: Device, snap: Snapshot, decisions: list[Decision]
    ) -> None:
        """Write newly allocated slots down *before* programming them, and make sure the
        claim still holds the device before anything is sent to the lock.

        If the process dies between the lock accepting a code and the outcome being
        recorded, the code still knows its slot after a restart, so it is found there
        instead of being programmed into a second slot.
        """
        had_slot = {c.access_code_id for c in snap.codes if c.slot is not None}
        fresh = [
            (d.access_code_id, d.op.slot)
            for d in decisions
            if d.op is not None and d.op.kind == "set" and d.access_code_id not in had_slot
        ]
        if fresh:
            reserve_slots(session, device.device_id, fresh)

    def _record_unreachable(
        self, session: Session, device: Device, exc: DeviceUnavailable
    ) -> PassResult:
        now = self._clock.now()
        device.errors = with_unreachable(
            list(device.errors), exc.error_code, f"Device is unreachable: {exc}", now
        )
        rows = rows_of(session, device.device_id).codes.values()
        # A recurring code's status follows its occurrences even while the lock is away.
        due_times = [self._follow_occurrence(row, now) for row in rows]
        # Codes waiting on an unreachable lock are exactly the ones that run late.
        due_times += [self._record_delay(session, device, row, now) for row in rows]
        return PassResult(
            wake_at=min((t for t in due_times if t is not None), default=None), failed=True
        )

    def _follow_occurrence(self, row: CodeRow, now: datetime) -> datetime | None:
        """For a recurring code nothing of which is on the lock nor on its way there: due
        for programming (``setting``, so it can be late) from each occurrence's lead time,
        ``unset`` again after it. Returns its next boundary, to look at the device then."""
        if row.recurrence is None or row.deleted_at is not None or row.used_at is not None:
            return None
        if row.slot is not None or row.op_kind is not None or row.was_on_device:
            return None
        lead = self._settings.programming_lead_time
        starts_at, ends_at = window_at(row.recurrence, row.starts_at, row.ends_at, now)
        due = belongs_on_lock(starts_at, ends_at, False, now, lead)
        if row.status == "unset" and due:
            row.status = "setting"
        elif row.status == "setting" and not due:
            row.status = "unset"
        return next_transition(starts_at, ends_at, now, lead)

    def _apply(
        self,
        session: Session,
        device: Device,
        claim: Claim,
        snap: Snapshot,
        plan: DevicePlan,
        reported: list[SlotReport],
        results: dict[str, OpOutcome],
        now: datetime,
        landed: list[SlotReport] | None = None,
    ) -> PassResult:
        """Record the pass. ``landed``: the lock's slots once its operations took effect
        (:meth:`_read_back`); the pass then also records what the next pass would find."""
        device.errors = without_errors(list(device.errors), UNREACHABLE_ERRORS)
        if snap.fresh:
            device.next_fresh_read_at = now + self._settings.drift_check_interval
        loaded = rows_of(session, device.device_id)
        rows, foreign, attempts = loaded.codes, loaded.foreign, loaded.attempts
        failed = unmanaged.failed(results, snap.unmanaged_removals)
        failed |= self._record_plan(session, device, rows, attempts, plan, results, now)
        # Only while the snapshot still holds: an API write since the claim goes round again.
        if landed is not None and not failed and device.wake_seq == claim.wake_seq:
            after = self._replan(snap, rows, landed, now)
            if after is not None:
                plan, reported = after, landed
                failed |= self._record_plan(session, device, rows, attempts, plan, {}, now)
        held = {s.code for s in reported if s.code} | {u.code for u in foreign if u.code}
        if device.backup_pool_enabled and backup_pool.refill(
            session, device, list(rows.values()), held, now
        ):
            plan.wake_no_later_than(now)  # new spares to program
        unmanaged.record_refusals(foreign, results, attempts)
        unmanaged.sync_unmanaged(
            session,
            device,
            foreign,
            attempts,
            reported,
            {r.slot for r in rows.values() if r.slot is not None},
            now,
            in_step=device.wake_seq == claim.wake_seq,
        )
        for uid in snap.unmanaged_removals:
            ack = results.get(uid)
            if isinstance(ack, OpAck):
                plan.wake_no_later_than(ack.settles_at)
        return PassResult(wake_at=None, failed=True) if failed else PassResult(plan.wake_at)

    def _record_plan(
        self,
        session: Session,
        device: Device,
        rows: dict[str, CodeRow],
        attempts: dict[str, list[ActionAttempt]],
        plan: DevicePlan,
        results: dict[str, OpOutcome],
        now: datetime,
    ) -> bool:
        """Record each of the plan's decisions; returns whether the lock failed one."""
        failed = False
        for decision in plan.decisions:
            result = results.get(decision.access_code_id)
            failed |= decision.unconfirmed
            failed |= isinstance(result, DeviceUnavailable | DeviceRejected)
            row = rows.get(decision.access_code_id)
            if row is None:
                continue
            settle = self._apply_code(
                session,
                device,
                row,
                decision,
                result,
                now,
                attempts.get(row.access_code_id, []),
            )
            plan.wake_no_later_than(settle)
        return failed

    def _replan(
        self, snap: Snapshot, rows: dict[str, CodeRow], landed: list[SlotReport], now: datetime
    ) -> DevicePlan | None:
        """The plan of the codes as just recorded against the lock as it is after the
        pass's operations: what the next pass would decide. None when that plan would send
        something (a set that did not take, say): that is left to the next pass."""
        codes = []
        for c in snap.codes_at(now):
            row = rows.get(c.access_code_id)
            if row is None or row.deleted:
                continue
            # Most codes of a busy lock are left as they were, and keep their state.
            recorded = _recorded(row)
            if recorded != _recorded(c):
                c = replace(c, **dict(zip(_RECORDED, recorded, strict=True)))
            codes.append(c)
        plan = self._plan(codes, landed, now, snap.slot_count)
        return None if any(d.op is not None for d in plan.decisions) else plan

    def _apply_code(
        self,
        session: Session,
        device: Device,
        row: CodeRow,
        d: Decision,
        result: OpOutcome | None,
        now: datetime,
        attempts: list[ActionAttempt],
    ) -> datetime | None:
        """Record one decision; returns when the device should next be looked at for it."""
        settle: datetime | None = None
        # Lock-side facts hold whatever the API did meanwhile.
        row.slot = d.slot
        row.was_on_device = d.was_on_device
        if d.slot is None:
            row.slot_code = None
        if isinstance(result, OpAck) and result.confirmed and d.op is not None:
            # Verified on the lock: nothing to wait for, the next (cached) read shows it.
            row.op_kind = row.op_revision = row.op_settles_at = None
            row.slot_code = d.op.code if d.op.kind == "set" else None
            settle = now
        elif isinstance(result, OpAck) and d.op is not None:
            row.op_kind, row.op_revision, row.op_settles_at = (
                d.op.kind,
                d.revision,
                result.settles_at,
            )
            if d.op.kind == "set":
                row.slot_code = d.op.code
            settle = result.settles_at
        elif not d.keep_op:
            row.op_kind = row.op_revision = row.op_settles_at = None
        if row.revision != d.revision:
            return settle
        if d.status is None:
            if d.external_change is not None:
                self._record_external_change(session, device, row, d, now)
            if d.removed_from_device:
                self._record_removed(session, device, row, now)
            self._resolve_attempts(row, attempts, gone=True, now=now)
            row.deleted = True
            return settle
        if d.removed_from_device and row.recurrence is not None:
            # A recurring code leaves the lock at the end of each occurrence and stays.
            self._record_removed(session, device, row, now)
        self._record_status(session, device, row, d, result, now)
        if row.status in ("set", "unset"):
            self._resolve_attempts(row, attempts, gone=False, now=now)
        delay_due = self._record_delay(session, device, row, now)
        return min((t for t in (settle, delay_due) if t is not None), default=None)

    @staticmethod
    def _record_removed(session: Session, device: Device, row: CodeRow, now: datetime) -> None:
        record_event(
            session,
            "access_code.removed_from_device",
            now,
            workspace_id=row.workspace_id,
            device=device,
            access_code=row,
        )

    def _record_delay(
        self, session: Session, device: Device, row: CodeRow, now: datetime
    ) -> datetime | None:
        """Warn once per episode when setting or removing takes unusually long (R142).

        Returns when the warning would be due, so the device is looked at then.
        """
        if row.status not in ("setting", "removing"):
            row.pending_since = None
            row.warnings = [w for w in row.warnings if w.get("warning_code") not in DELAY_WARNINGS]
            return None
        if row.pending_since is None:
            row.pending_since = now
        since = row.pending_since
        starts_at, _ = window_at(row.recurrence, row.starts_at, row.ends_at, now)
        if row.status == "setting" and starts_at is not None:
            since = max(since, starts_at)  # a code is only late once it should work
        due = since + self._settings.delay_warning_after
        code = f"delay_in_{row.status}_{'on' if row.status == 'setting' else 'from'}_device"
        if now < due:
            return due
        if not any(w.get("warning_code") == code for w in row.warnings):
            verb = "Setting the code on" if row.status == "setting" else "Removing the code from"
            row.warnings = [
                *row.warnings,
                {
                    "warning_code": code,
                    "message": f"{verb} the device is taking longer than expected",
                    "created_at": iso(now),
                },
            ]
            record_event(
                session,
                f"access_code.{code}",
                now,
                workspace_id=row.workspace_id,
                device=device,
                access_code=row,
            )
        return None

    @staticmethod
    def _record_external_change(
        session: Session, device: Device, row: CodeRow, d: Decision, now: datetime
    ) -> None:
        """A code changed or deleted at the lock (R145–R147): an error while pinwarden puts
        it back, a warning when such changes are allowed and honoured."""
        kind = "deleted" if d.external_change == "removed" else "modified"
        record_event(
            session,
            f"access_code.{kind}_external_to_seam",
            now,
            workspace_id=row.workspace_id,
            device=device,
            access_code=row,
        )
        message = f"The code was {kind} at the lock, outside pinwarden"
        if row.is_external_modification_allowed:
            if d.adopted_code is not None:
                row.code = row.slot_code = d.adopted_code
            row.warnings = [
                *(w for w in row.warnings if w.get("warning_code") != EXTERNAL),
                {"warning_code": EXTERNAL, "message": message, "created_at": iso(now)},
            ]
        else:
            row.errors, _ = with_error(
                list(row.errors), error(EXTERNAL, message, now, is_access_code_error=True)
            )

    def _record_status(
        self,
        session: Session,
        device: Device,
        row: CodeRow,
        d: Decision,
        result: OpOutcome | None,
        now: datetime,
    ) -> None:
        assert d.status is not None
        row.status = d.status
        if d.external_change is not None:
            self._record_external_change(session, device, row, d, now)
        errors = list(row.errors)
        row.is_scheduled_on_device = d.scheduled
        if d.became_scheduled:
            errors = without_errors(errors, SET_ERRORS)
            record_event(
                session,
                "access_code.scheduled_on_device",
                now,
                workspace_id=row.workspace_id,
                device=device,
                access_code=row,
                code=row.code,
            )
        if d.became_set:
            errors = without_errors(errors, SET_ERRORS)
            record_event(
                session,
                "access_code.set_on_device",
                now,
                workspace_id=row.workspace_id,
                device=device,
                access_code=row,
                code=row.code,
            )
        if d.status == "unset" and d.op is None and not (d.keep_op or d.scheduled):
            # Not due on the lock yet and nothing in flight: nothing can be failing.
            errors = without_errors(errors, SET_ERRORS | REMOVE_ERRORS)
        if d.duplicate:
            errors, _ = with_error(
                errors,
                error(
                    "duplicate_code_on_device",
                    "The lock already holds this PIN in a slot pinwarden does not manage",
                    now,
                    is_access_code_error=True,
                ),
            )
        else:
            errors = without_errors(errors, {"duplicate_code_on_device"})
        failure: dict[str, Any] | None = None
        if d.no_space:
            failure = error(
                "no_space_for_access_code_on_device",
                "The lock has no free slot for this code",
                now,
                is_access_code_error=True,
            )
        elif isinstance(result, DeviceRejected) and d.op is not None:
            kind = (
                "failed_to_set_on_device" if d.op.kind == "set" else "failed_to_remove_from_device"
            )
            failure = error(
                kind, f"The lock rejected the operation: {result}", now, is_access_code_error=True
            )
        if failure is not None:
            errors, added = with_error(errors, failure)
            if added:
                event = (
                    "access_code.failed_to_remove_from_device"
                    if failure["error_code"] == "failed_to_remove_from_device"
                    else "access_code.failed_to_set_on_device"
                )
                record_event(
                    session,
                    event,
                    now,
                    workspace_id=row.workspace_id,
                    device=device,
                    access_code=row,
                )
        row.errors = errors

    @staticmethod
    def _resolve_attempts(
        row: CodeRow, pending: list[ActionAttempt], gone: bool, now: datetime
    ) -> None:
        """Pending attempts finish once the lock reflects their request (R191)."""
        for attempt in pending:
            if attempt.action_type == "DELETE_ACCESS_CODE":
                if gone:
                    attempt.status, attempt.result = "success", {}
            elif gone:
                attempt.status = "error"
                attempt.error = {
                    "type": "access_code_deleted",
                    "message": "The access code was removed before the request completed",
                }
            elif attempt.revision is None or attempt.revision <= row.revision:
                attempt.status = "success"
                # A CodeRow carries every column the view reads off an AccessCode.
                view = access_code_view(cast(AccessCode, row), [], now=now)
                attempt.result = {"access_code": view}
