"""The drivers under contract, each behind a small harness that plays the lock's side.

Adding a driver is one harness: a factory that builds the driver with a connected
account holding at least one lock, plus the lock-side actions below, and one entry in
``under_test``'s parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import pytest
from sqlalchemy import select

from pinwarden.clock import FakeClock
from pinwarden.devices.driver import AccountRef, Driver
from pinwarden.sandbox.lock import edit_at_keypad, enter_pin
from pinwarden.sandbox.tables import SandboxLock
from pinwarden.service import Service
from pinwarden.store.tables import ConnectedAccount
from tests.conftest import START, make_settings
from tests.zwave.conftest import reset_locks, z_wave_account
from tests.zwave_stack import ZWaveStack


class LockSide(Protocol):
    """What a test does at the lock itself, outside the driver."""

    def type_pin(self, address: str, pin: str) -> None:
        """Someone types ``pin`` at the keypad."""

    def program_at_keypad(self, address: str, slot: int, pin: str) -> None:
        """Someone programs ``pin`` into ``slot`` at the keypad."""

    def hide_pins(self, address: str) -> None:
        """From now on the lock reports occupied slots without their PINs."""

    def refuse_writes(self, address: str) -> None:
        """From now on the lock refuses every set and remove."""

    def go_offline(self, address: str) -> None:
        """The lock stops answering."""


@dataclass
class DriverUnderTest:
    name: str
    driver: Driver
    account: AccountRef
    clock: FakeClock
    lock: LockSide


class SandboxSide:
    """The sandbox's locks are rows: the harness writes what a person at the lock does."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def _change(self, address: str, change: Callable[[SandboxLock], None]) -> None:
        with self._service.db.write() as session:
            lock = session.get(SandboxLock, address)
            assert lock is not None
            change(lock)
        self._service.integrations.sandbox.lock_reported()

    def type_pin(self, address: str, pin: str) -> None:
        now = self._service.clock.now()
        with self._service.db.write() as session:
            lock = session.get(SandboxLock, address)
            assert lock is not None
            enter_pin(session, lock, pin, now, None)
        self._service.integrations.sandbox.lock_reported()

    def program_at_keypad(self, address: str, slot: int, pin: str) -> None:
        with self._service.db.write() as session:
            edit_at_keypad(session, address, slot, pin, self._service.clock.now(), name="Guest")
        self._service.integrations.sandbox.lock_reported()

    def hide_pins(self, address: str) -> None:
        self._change(
            address, lambda lock: setattr(lock, "faults", {**lock.faults, "mask_pins": True})
        )

    def refuse_writes(self, address: str) -> None:
        self._change(
            address, lambda lock: setattr(lock, "faults", {**lock.faults, "reject_rate": 1.0})
        )

    def go_offline(self, address: str) -> None:
        self._change(address, lambda lock: setattr(lock, "online", False))


def sandbox(database_url: str) -> Iterator[DriverUnderTest]:
    clock = FakeClock(START)
    service = Service(replace(make_settings(database_url), run_worker=False), clock)
    service.create_workspace("Contract", sandbox=True)
    with service.db.read() as session:
        account_id = session.scalars(
            select(ConnectedAccount.connected_account_id).where(ConnectedAccount.provider == "yale")
        ).one()
    try:
        yield DriverUnderTest(
            "sandbox",
            service.integrations.sandbox,
            AccountRef(account_id),
            clock,
            SandboxSide(service),
        )
    finally:
        service.db.dispose()


class ZWaveSide:
    """A Z-Wave lock is a mock node: the harness drives it through the stack's control API."""

    def __init__(self, stack: ZWaveStack) -> None:
        self._stack = stack

    def type_pin(self, address: str, pin: str) -> None:
        node = node_of(address)
        slot = next(s for s, code in self._stack.codes(node).items() if code == pin)
        self._stack.keypad_unlock(node, slot)

    def program_at_keypad(self, address: str, slot: int, pin: str) -> None:
        self._stack.program_code(node_of(address), slot, pin)

    def hide_pins(self, address: str) -> None:
        self._stack.set_mode(node_of(address), "masked")

    def refuse_writes(self, address: str) -> None:
        # A Z-Wave lock refuses by acknowledging and not storing.
        self._stack.set_mode(node_of(address), "silent")

    def go_offline(self, address: str) -> None:
        self._stack.set_mode(node_of(address), "dead")


def node_of(address: str) -> int:
    """The node id in a Z-Wave JS driver address (``homeid:node``)."""
    return int(address.rpartition(":")[2])


def zwave_js(database_url: str, stack: ZWaveStack) -> Iterator[DriverUnderTest]:
    # Every lock empty, so the contract sees only what it programs.
    reset_locks(stack, empty=True)
    clock = FakeClock(START)
    service, account = z_wave_account(database_url, stack, clock)
    try:
        yield DriverUnderTest(
            "zwave-js", service.integrations.zwave_js, account, clock, ZWaveSide(stack)
        )
    finally:
        service.db.dispose()


@pytest.fixture(params=["sandbox", "zwave-js"])
def under_test(request: pytest.FixtureRequest, database_url: str) -> Iterator[DriverUnderTest]:
    """Every driver, on every database backend."""
    if request.param == "sandbox":
        yield from sandbox(database_url)
    else:
        yield from zwave_js(database_url, request.getfixturevalue("zwave_stack"))
