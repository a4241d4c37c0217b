"""Bring zwave-js's cache in line with the mock locks' memory after a test reset them.

A reset changes only the mock; zwave-js (like any Z-Wave controller) believes what the
lock last reported. A test that starts after a reset must not see the previous test's
codes in the cache, so every slot where the two differ is read again (User Code Get),
and a node zwave-js thinks dead is pinged back to life first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from zwave_js_server.const import CommandClass, NodeStatus
from zwave_js_server.util.lock import get_usercodes

from tests.zwave_stack.client import connected


async def _sync(ws_url: str, memory: Mapping[int, Mapping[int, str]]) -> None:
    async with connected(ws_url) as client:
        assert client.driver is not None
        for node_id, codes in memory.items():
            node = client.driver.controller.nodes[node_id]
            if node.status == NodeStatus.DEAD:
                await node.async_ping()
            for slot in get_usercodes(node):
                number = slot["code_slot"]
                cached = slot.get("usercode") if slot["in_use"] else None
                if cached != codes.get(number):
                    await node.async_invoke_cc_api(
                        CommandClass.USER_CODE, "get", number, wait_for_result=True
                    )


def sync_cache(ws_url: str, memory: Mapping[int, Mapping[int, str]]) -> None:
    """Make zwave-js's cache of each node's user codes equal ``memory`` (node → slot →
    PIN, as the mock holds them)."""
    asyncio.run(_sync(ws_url, memory))
