"""Smoke tests of the Z-Wave test stack itself (tests/zwave_stack), through the real
zwave_js_server client: what the client does reaches the mock lock's memory, and what
happens at the mock lock reaches the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from zwave_js_server.client import Client
from zwave_js_server.const import CommandClass, NodeStatus
from zwave_js_server.exceptions import FailedZWaveCommand
from zwave_js_server.model.node import Node

from tests.zwave_stack import ZWaveStack
from tests.zwave_stack.client import connected as client_of

SEEDED = 2  # arrives with slots 3 and 7 occupied
EMPTY = 3  # User Code v2, empty
SMALL = 4  # 10 slots, empty; used for the failure modes
USER_CODE = CommandClass.USER_CODE
ENABLED = 1  # UserIDStatus.Enabled


def connected(stack: ZWaveStack) -> AbstractAsyncContextManager[Client]:
    """A client that has the driver's state dump, listening for events."""
    return client_of(stack.ws_url)


def node_of(client: Client, node_id: int) -> Node:
    assert client.driver is not None
    return client.driver.controller.nodes[node_id]


async def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def user_code(node: Node, slot: int) -> Any:
    return await node.async_invoke_cc_api(USER_CODE, "get", slot, wait_for_result=True)


@pytest.fixture
def stack(zwave_stack: ZWaveStack) -> ZWaveStack:
    """The session stack with every lock back to its declared state."""
    zwave_stack.reset_all()
    return zwave_stack


def test_preseeded_codes_survive_onboarding(stack: ZWaveStack) -> None:
    assert stack.codes(SEEDED) == {3: "4321", 7: "907856"}

    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, SEEDED)
            assert node.ready
            # What the interview read (queryAllUserCodes) ...
            assert node.values[f"{SEEDED}-99-0-userCode-3"].value == "4321"
            assert node.values[f"{SEEDED}-99-0-userIdStatus-4"].value == 0
            # ... and what the lock answers now.
            report = await user_code(node, 7)
            assert report["userIdStatus"] == ENABLED
            assert report["userCode"] == "907856"

    asyncio.run(scenario())


def test_set_and_clear_land_in_the_lock_memory(stack: ZWaveStack) -> None:
    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, EMPTY)
            await node.async_invoke_cc_api(USER_CODE, "set", 5, ENABLED, "2468")
            assert stack.codes(EMPTY) == {5: "2468"}
            assert stack.state(EMPTY)["codes"]["5"]["status"] == "Enabled"
            await node.async_invoke_cc_api(USER_CODE, "clear", 5)
            assert stack.codes(EMPTY) == {}

    asyncio.run(scenario())


def test_door_lock_set_moves_the_mock_door(stack: ZWaveStack) -> None:
    assert stack.locked(EMPTY)

    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, EMPTY)
            await node.async_invoke_cc_api(CommandClass.DOOR_LOCK, "set", 0x00)  # unsecured
            assert not stack.locked(EMPTY)
            await node.async_invoke_cc_api(CommandClass.DOOR_LOCK, "set", 0xFF)  # secured
            assert stack.locked(EMPTY)

    asyncio.run(scenario())


def test_keypad_unlock_reaches_the_client_with_the_user_id(stack: ZWaveStack) -> None:
    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, SEEDED)
            seen: list[Any] = []

            def on_notification(data: dict[str, Any]) -> None:
                seen.append(data["notification"])

            node.on("notification", on_notification)
            stack.keypad_unlock(SEEDED, 3)
            await until(lambda: bool(seen), "the keypad notification")
            note = seen[0]
            assert (note.type_, note.event) == (6, 6)
            assert note.event_label == "Keypad unlock operation"
            assert note.parameters == {"userId": 3}
            current = f"{SEEDED}-98-0-currentMode"
            await until(lambda: node.values[current].value == 0, "the door unsecured")
            assert not stack.locked(SEEDED)

            stack.manual_lock(SEEDED)
            await until(lambda: len(seen) == 2, "the manual lock notification")
            assert (seen[1].type_, seen[1].event) == (6, 1)
            await until(lambda: node.values[current].value == 0xFF, "the door secured")

    asyncio.run(scenario())


def test_code_programmed_at_the_keypad(stack: ZWaveStack) -> None:
    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, EMPTY)
            seen: list[Any] = []
            node.on("notification", lambda data: seen.append(data["notification"]))
            stack.program_code(EMPTY, 9, "55667788")
            await until(lambda: bool(seen), "the new-code notification")
            assert (seen[0].event, seen[0].parameters) == (0x0E, {"userId": 9})
            assert (await user_code(node, 9))["userCode"] == "55667788"
            stack.delete_code(EMPTY, 9)
            await until(lambda: len(seen) == 2, "the code-deleted notification")
            assert (seen[1].event, seen[1].parameters) == (0x0D, {"userId": 9})
            assert (await user_code(node, 9))["userIdStatus"] == 0

    asyncio.run(scenario())


def test_dead_node_fails_a_set_and_comes_back(stack: ZWaveStack) -> None:
    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, SMALL)
            stack.set_mode(SMALL, "dead")
            with pytest.raises(FailedZWaveCommand) as failure:
                await node.async_invoke_cc_api(USER_CODE, "set", 2, ENABLED, "1357")
            assert failure.value.zwave_error_code == 204  # ZW0204: no ACK from the node
            await until(lambda: node.status == NodeStatus.DEAD, "the node reported dead")
            assert stack.codes(SMALL) == {}

            stack.set_mode(SMALL, "alive")
            assert await node.async_ping()
            await until(lambda: node.status == NodeStatus.ALIVE, "the node alive again")
            await node.async_invoke_cc_api(USER_CODE, "set", 2, ENABLED, "1357")
            assert stack.codes(SMALL) == {2: "1357"}

    asyncio.run(scenario())


def test_silent_node_acks_a_set_and_keeps_nothing(stack: ZWaveStack) -> None:
    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, SMALL)
            stack.set_mode(SMALL, "silent")
            await node.async_invoke_cc_api(USER_CODE, "set", 2, ENABLED, "1357")
            assert stack.codes(SMALL) == {}
            assert (await user_code(node, 2))["userIdStatus"] == 0

    asyncio.run(scenario())


def test_masked_node_hides_pins(stack: ZWaveStack) -> None:
    stack.reset(SMALL, {1: "8642"})
    stack.set_mode(SMALL, "masked")

    async def scenario() -> None:
        async with connected(stack) as client:
            report = await user_code(node_of(client, SMALL), 1)
            assert report["userIdStatus"] == ENABLED
            assert report["userCode"] == "****"

    asyncio.run(scenario())
    assert stack.codes(SMALL) == {1: "8642"}


def test_battery_level_is_the_mock_s(stack: ZWaveStack) -> None:
    stack.set_battery(EMPTY, 17)

    async def scenario() -> None:
        async with connected(stack) as client:
            node = node_of(client, EMPTY)
            await node.async_invoke_cc_api(CommandClass.BATTERY, "get", wait_for_result=True)
            await until(lambda: node.values[f"{EMPTY}-128-0-level"].value == 17, "the level")

    asyncio.run(scenario())
    assert stack.reset(EMPTY)["battery"] == 90
