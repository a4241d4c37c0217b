"""A plain zwave_js_server client on the stack, for the harness's own checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from zwave_js_server.client import Client


@asynccontextmanager
async def connected(ws_url: str, timeout: float = 10.0) -> AsyncIterator[Client]:
    """A client that holds the server's state dump (``client.driver``) and listens for
    events until the block ends."""
    async with aiohttp.ClientSession() as session:
        client = Client(ws_url, session)
        await asyncio.wait_for(client.connect(), timeout)
        ready = asyncio.Event()
        listener = asyncio.create_task(client.listen(ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout)
            assert client.driver is not None
            yield client
        finally:
            await client.disconnect()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
