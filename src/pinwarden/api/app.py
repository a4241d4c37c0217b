"""The FastAPI application: routes, envelopes, request ids, and the worker's lifetime."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinwarden.api.context import Services
from pinwarden.api.errors import SeamError, internal_error
from pinwarden.api.ops import Operations, mount_ops
from pinwarden.api.routes import all_endpoints
from pinwarden.api.wire import Endpoint, mount
from pinwarden.console import mount_console

log = logging.getLogger(__name__)


def create_app(
    services: Services,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    extra_endpoints: Sequence[Endpoint] = (),
    ops: Operations | None = None,
) -> FastAPI:
    """Build the app; ``lifespan`` starts and stops background work (the worker);
    ``extra_endpoints`` are the integrations' own routes (the sandbox's simulations);
    ``ops`` adds health, readiness, metrics and the API description. The web console
    (``/console``) calls the same endpoints' handlers."""
    app = FastAPI(
        title="pinwarden",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # pinwarden reports through its own /metrics; FastAPI's OpenTelemetry hooks would
        # only ask, on every request, whether a provider was configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    endpoints = [*all_endpoints(), *extra_endpoints]
    mount(app, services, endpoints)
    mount_console(app, services, endpoints)
    if ops is not None:
        mount_ops(app, ops, endpoints)
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return internal_error().response()

    @app.exception_handler(SeamError)
    async def seam_error(_request: Request, exc: SeamError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return SeamError(404, "not_found", "No such endpoint").response()
        if exc.status_code == 405:
            return SeamError(405, "method_not_allowed", "Method not allowed").response()
        return SeamError(exc.status_code, "http_error", str(exc.detail)).response()

    return app


class RequestIdMiddleware:
    """Adds ``seam-request-id`` to every response (R38); plain ASGI, so it costs little."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid_text = f"req_{uuid.uuid4().hex}"
        rid = rid_text.encode()
        # Handlers read it as ``request.state.request_id`` (the audit trail records it).
        scope.setdefault("state", {})["request_id"] = rid_text

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"seam-request-id", rid)]
            await send(message)

        await self.app(scope, receive, send_with_id)
