"""Operational routes: ``/health``, ``/ready``, ``/metrics``, ``/openapi.json``, ``/docs``,
and the middleware that counts HTTP requests.

None of them takes an API key: load balancers, Kubernetes probes and Prometheus call
them without one, and what they answer names no workspace, device or code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinwarden.api.openapi import OPS_ROUTES, build_openapi, docs_page
from pinwarden.api.wire import Endpoint
from pinwarden.health import OK
from pinwarden.metrics import CONTENT_TYPE, Metrics


@dataclass(frozen=True)
class Operations:
    """What the operational routes report on."""

    # Check name -> "ok" or what is wrong.
    readiness: Callable[[], dict[str, str]]
    # None when metrics are switched off (PINWARDEN_METRICS=off): no route, no counting.
    metrics: Metrics | None


def mount_ops(app: FastAPI, ops: Operations, endpoints: Sequence[Endpoint]) -> None:
    """Add the operational routes and, with metrics on, the request-counting middleware."""
    spec = build_openapi(endpoints, metrics=ops.metrics is not None)
    page = docs_page(spec)

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    def ready(_request: Request) -> Response:
        checks = ops.readiness()
        failed = [name for name, result in checks.items() if result != OK]
        body = {"ok": not failed, "checks": checks, "failed": failed}
        return JSONResponse(body, status_code=503 if failed else 200)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(spec)

    async def docs(_request: Request) -> Response:
        return HTMLResponse(page)

    app.router.add_route("/health", health, methods=["GET", "HEAD"], include_in_schema=False)
    # Sync: the checks query the database, so they run on the threadpool.
    app.router.add_route("/ready", ready, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.add_route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)
    app.router.add_route("/docs", docs, methods=["GET"], include_in_schema=False)
    if ops.metrics is not None:
        metrics = ops.metrics

        def scrape(_request: Request) -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

        app.router.add_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
        routes = frozenset([*(e.path for e in endpoints), *OPS_ROUTES])
        app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=routes)


class RequestMetricsMiddleware:
    """Counts requests by route template, method and status, and times them.

    Every pinwarden route is a fixed path, so the template is the path itself; anything
    else is counted as ``other``, which keeps scanners from minting a series per URL.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: frozenset[str]) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in self._routes else "other"
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._metrics.http_requests.labels(route, method, str(status)).inc()
            self._metrics.http_duration.labels(route).observe(time.perf_counter() - started)


_METHODS = frozenset(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
