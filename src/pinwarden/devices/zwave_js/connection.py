"""One websocket client to one Z-Wave JS server, kept open for as long as the driver runs.

The server (``zwave-js-server``, or Z-Wave JS UI's built-in one) may be shared with other
clients such as Home Assistant: pinwarden only listens and sends commands to the nodes it
manages. The protocol schema is negotiated by ``zwave-js-server-python`` (the highest
both sides speak). A lost connection is opened again with back-off; while it is down
every lock of the account shows ``hub_disconnected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pinwarden.devices.driver import DeviceUnavailable

# The client library and aiohttp load when the first connection starts (about 0.6 s), not
# in every process that merely knows the driver.
if TYPE_CHECKING:
    import aiohttp
    from zwave_js_server.client import Client
    from zwave_js_server.model.driver import Driver as ZDriver

log = logging.getLogger(__name__)
# Real seconds between attempts to reach a server that is down: doubling, capped.
RECONNECT_BASE_SECONDS = 1.0
RECONNECT_CAP_SECONDS = 60.0


def shown(url: str) -> str:
    """The URL as logs and errors may show it: without user, password or query (a
    token may sit in any of them)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Connection:
    """The client of one connected account, reconnecting until :meth:`aclose`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._client: Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        # Set once the first attempt to connect has ended, however it went.
        self._attempted = asyncio.Event()
        self._last_error: str | None = None

    def start(self, on_ready: Callable[[ZDriver], None], on_lost: Callable[[], None]) -> None:
        """Begin connecting in the background. ``on_ready(driver)`` runs on the event loop
        each time a (re)connection has the server's full state; ``on_lost()`` each time it
        goes."""
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(on_ready, on_lost), name="zwave-js client")

    def current(self) -> ZDriver | None:
        """The server's state while connected, else None."""
        client = self._client
        return client.driver if client is not None and self._ready.is_set() else None

    async def ready(self, timeout: float) -> ZDriver:
        """The server's state; before the first connection attempt has ended this waits up
        to ``timeout`` real seconds, afterwards it answers at once. Raises
        :class:`DeviceUnavailable` (``hub_disconnected``) while not connected."""
        if not self._attempted.is_set() and not self._ready.is_set():
            events = (self._ready, self._closed, self._attempted)
            waits = [asyncio.create_task(e.wait()) for e in events]
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
        zdriver = self.current()
        if zdriver is None:
            reason = f": {self._last_error}" if self._last_error else ""
            raise DeviceUnavailable(
                f"the Z-Wave JS server at {shown(self.url)} is not connected{reason}",
                "hub_disconnected",
            )
        return zdriver

    async def _run(self, on_ready: Callable[[ZDriver], None], on_lost: Callable[[], None]) -> None:
        from zwave_js_server.client import Client

        assert self._session is not None
        delay = RECONNECT_BASE_SECONDS
        while not self._closed.is_set():
            client = Client(self.url, self._session)
            try:
                await client.connect()
                ready = asyncio.Event()
                listening = asyncio.create_task(client.listen(ready))
                waiting = asyncio.create_task(ready.wait())
                await asyncio.wait({listening, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if ready.is_set() and client.driver is not None:
                    self._client = client
                    self._ready.set()
                    self._last_error = None
                    delay = RECONNECT_BASE_SECONDS
                    log.info("connected to the Z-Wave JS server at %s", shown(self.url))
                    on_ready(client.driver)
                await listening
                self._last_error = "the connection closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Anything, so the account is never left without a client; only the
                # type and the library's text, which hold no PINs.
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("Z-Wave JS server at %s: %s", shown(self.url), self._last_error)
            finally:
                self._attempted.set()
                was_ready = self._ready.is_set()
                self._ready.clear()
                self._client = None
                with contextlib.suppress(Exception):
                    await client.disconnect()
                if was_ready:
                    on_lost()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)
            delay = min(delay * 2, RECONNECT_CAP_SECONDS)

    async def aclose(self) -> None:
        """Disconnect and stop reconnecting."""
        self._closed.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._session is not None:
            await self._session.close()
