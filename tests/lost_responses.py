"""A test tool: the server does the work, the client sees a 503 (a lost response).

The official SDK retries GET, PUT and DELETE on 429 and 5xx (spec R52). The dangerous case
for a server is a request that *was* applied but whose answer never reached the client — a
proxy timing out, a connection dropped after the commit — so the client sends it again.
:class:`LoseResponses` wraps the app (in front of uvicorn, see ``tests/conftest.py``) and
produces exactly that, for requests a test arms: the app handles the request to the end
(its transaction commits), its response is thrown away, and a bare 503 goes out instead,
with a plain-text body as a load balancer would send.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Lost:
    """A response the client never saw."""

    method: str
    path: str
    status: int  # what the app answered


class LoseResponses:
    """ASGI middleware that replaces the response of armed requests with a 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._armed: dict[tuple[str, str], int] = {}
        self._lost: list[Lost] = []

    def arm(self, method: str, path: str, times: int = 1) -> None:
        """Lose the responses of the next ``times`` requests ``method path``."""
        with self._lock:
            key = (method.upper(), path)
            self._armed[key] = self._armed.get(key, 0) + times

    @property
    def lost(self) -> list[Lost]:
        """The responses lost so far, oldest first."""
        with self._lock:
            return list(self._lost)

    def _take(self, method: str, path: str) -> bool:
        with self._lock:
            left = self._armed.get((method, path), 0)
            if left == 0:
                return False
            self._armed[(method, path)] = left - 1
            return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._take(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        status = 0

        async def swallow(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        # Run the request to completion first: the work is done before the client hears.
        await self.app(scope, receive, swallow)
        with self._lock:
            self._lost.append(Lost(scope["method"], scope["path"], status))
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"503 Service Unavailable"})
