"""The Seam wire protocol in one place (ARCHITECTURE decision 6, spec §2).

Handlers are declared as :class:`Endpoint` objects: a path, the methods Seam's OpenAPI
lists, a pydantic model for the parameters and a plain function. This adapter reads
parameters from the query string (the SDK's serialization: repeated keys for arrays,
empty value = null, ``_strict=true``) and/or the JSON body, authenticates, validates,
runs the handler in a worker thread and wraps the result as ``{..., "ok": true}``.
"""

from __future__ import annotations

import functools
import json
import logging
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Union

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from pinwarden.api.auth import Principal
from pinwarden.api.context import RequestContext, Services
from pinwarden.api.errors import (
    SeamError,
    from_rule,
    from_validation,
    internal_error,
    invalid_input,
)
from pinwarden.domain.errors import RuleViolation
from pinwarden.store.audit import Actor, acting_as

log = logging.getLogger(__name__)

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class Params(BaseModel):
    """Base for parameter models. Unknown body keys are ignored, as Seam's server does."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    def given(self, name: str) -> bool:
        """Whether the request carried ``name`` (explicit null counts as given)."""
        return name in self.model_fields_set


class NoParams(Params):
    pass


Handler = Callable[[RequestContext, Any], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One Seam route."""

    path: str
    methods: tuple[str, ...]
    params: type[Params]
    handler: Handler
    # Reads: run inline on SQLite, and the only routes a read-only API key may call.
    # Every other route is a write (403 for read-only keys, audited).
    read_only: bool = False
    # The handler reads through ``RequestContext.rows`` only: the API-key check runs on
    # the connection the handler then reads on. Others hold no connection while they run
    # sessions of their own (two each could drain the pool).
    shares_connection: bool = False


def _accepts(annotation: Any, origins: tuple[type, ...]) -> bool:
    """Whether ``annotation`` (possibly a union) admits a value of one of ``origins``."""
    origin = typing.get_origin(annotation)
    if origin in origins:
        return True
    if origin in (Union, types.UnionType):
        return any(_accepts(arg, origins) for arg in typing.get_args(annotation))
    return False


@functools.cache
def _shapes(model: type[Params]) -> tuple[frozenset[str], frozenset[str]]:
    """The parameters of ``model`` that take a list, and those that take an object."""
    fields = model.model_fields
    return (
        frozenset(n for n, f in fields.items() if _accepts(f.annotation, (list, tuple, set))),
        frozenset(n for n, f in fields.items() if _accepts(f.annotation, (dict,))),
    )


def query_params(request: Request, model: type[Params]) -> dict[str, Any]:
    """Parse the query string the way the official SDKs write it (R22–R29)."""
    query = request.query_params
    strict = query.get("_strict") == "true"
    fields = model.model_fields
    lists, objects = _shapes(model)
    out: dict[str, Any] = {}
    for key in dict.fromkeys(query.keys()):
        if key == "_strict":
            continue
        values = query.getlist(key)
        name = key[:-2] if key.endswith("[]") else key
        head, dot, rest = name.partition(".")
        if dot and head in objects:
            nested = out.setdefault(head, {})
            if not isinstance(nested, dict):
                raise invalid_input(f"{head} must be given as {head}.<key>=<value>", head)
            nested[rest] = values[-1]
            continue
        if name not in fields:
            if strict:
                raise invalid_input(f"Unknown parameter {name}", name)
            continue
        if name in lists:
            items = [v for v in values if v != ""]
            if not strict:
                items = [part for v in items for part in v.split(",") if part != ""]
            out.setdefault(name, []).extend(items)
        elif name in out and isinstance(out[name], dict):
            raise invalid_input(f"{name} must be given as {name}.<key>=<value>", name)
        else:
            out[name] = None if values[-1] == "" else values[-1]
    return out


def body_params(request: Request, raw: bytes) -> dict[str, Any]:
    """The JSON body, if any (R30)."""
    if not raw.strip():
        return {}
    if "json" not in request.headers.get("content-type", "application/json"):
        raise SeamError(400, "invalid_content_type", "Request body must be application/json")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid_input("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid_input("Request body must be a JSON object")
    return body


def _unstorable(value: Any) -> bool:
    """NUL characters and lone surrogates: no database column can hold them."""
    if isinstance(value, str):
        return "\x00" in value or (not value.isascii() and _has_surrogate(value))
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def source_address(request: Request) -> str | None:
    """The peer's address (a proxy in front of pinwarden is the peer)."""
    return request.client.host if request.client is not None else None


def _authenticate(services: Services, request: Request, conn: Connection | None) -> Principal:
    address = source_address(request)
    guard = services.auth_guard
    if guard is not None:
        guard.check(address)
    authorization = request.headers.get("authorization")
    principal = services.api_keys.authenticate(authorization, conn)
    if principal is None:
        if guard is not None and authorization:
            guard.failed(address)
        raise SeamError(401, "unauthorized", "Unauthorized: missing or invalid API key")
    return principal


def read_only_refusal(path: str) -> SeamError:
    """403 for a write with a read-only key."""
    return SeamError(
        403,
        "forbidden",
        f"This API key is read-only and cannot call {path}",
        data={"reason": "read_only_api_key"},
    )


# deadlock_detected, serialization_failure: the database gave the transaction up, and the
# same work tried again normally goes through.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSIENT_ATTEMPTS = 3


def invoke(endpoint: Endpoint, context: RequestContext, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate ``raw`` parameters and run ``endpoint``'s handler for an authenticated
    caller: what every API request does once its parameters are read, and what the web
    console calls for each of its actions, so both share one set of rules and errors.
    Raises :class:`SeamError` (rule violations and invalid parameters included)."""
    if _unstorable(raw):
        raise invalid_input("Parameters cannot contain NUL characters or lone surrogates")
    try:
        params = endpoint.params.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc) from exc
    db = context.services.db
    attempts = 1
    while True:
        committed = db.commits_in_thread()
        try:
            return endpoint.handler(context, params)
        except RuleViolation as exc:
            raise from_rule(exc) from exc
        except DBAPIError as exc:
            # PostgreSQL broke a deadlock, or a serialization conflict, by rolling the
            # handler's transaction back: when nothing of it was committed before, the
            # request runs again rather than fail (reads on a shared connection do not:
            # its transaction is spoilt).
            state = getattr(exc.orig, "sqlstate", None)
            if (
                state not in TRANSIENT_SQLSTATES
                or endpoint.read_only
                or attempts == TRANSIENT_ATTEMPTS
                or db.commits_in_thread() != committed
            ):
                raise
            log.info("%s: the database ended its transaction (%s); again", endpoint.path, state)
            attempts += 1


def _endpoint_view(services: Services, endpoint: Endpoint) -> Callable[[Request], Any]:
    # SQLite reads in WAL mode take well under a millisecond and never wait for writers,
    # so running them on the event loop is cheaper than a thread hop (about 1.7x the
    # throughput). Writes, and everything on PostgreSQL, go through the threadpool.
    inline_reads = services.db.is_sqlite

    def call(request: Request, body: bytes) -> dict[str, Any]:
        if endpoint.shares_connection:
            # One connection for the key check and the read: a checkout costs about as
            # much as the key's primary-key read itself.
            with services.db.rows() as conn:
                return run(request, body, conn)
        return run(request, body, None)

    def run(request: Request, body: bytes, conn: Connection | None) -> dict[str, Any]:
        principal = _authenticate(services, request, conn)
        if principal.read_only and not endpoint.read_only:
            raise read_only_refusal(endpoint.path)
        raw = query_params(request, endpoint.params)
        raw.update(body_params(request, body))
        context = RequestContext(
            services,
            principal.workspace_id,
            principal.is_sandbox,
            lambda: str(request.url),
            principal.key_id,
            conn,
        )
        if endpoint.read_only:
            return invoke(endpoint, context, raw)
        # Set here, in the thread that runs the handler: its flushes are audited.
        actor = Actor(
            "api_key",
            principal.key_id,
            endpoint.path,
            services.clock.now,
            workspace_id=principal.workspace_id,
            request_id=getattr(request.state, "request_id", None),
            source_address=source_address(request),
        )
        with acting_as(actor):
            return invoke(endpoint, context, raw)

    def guarded(request: Request, body: bytes) -> dict[str, Any]:
        # Nothing unexpected may escape as a bare 500: keep the envelope and request id.
        try:
            return call(request, body)
        except SeamError:
            raise
        except Exception as exc:
            log.exception("unhandled error in %s %s", request.method, endpoint.path)
            raise internal_error() from exc

    async def view(request: Request) -> Response:
        if request.method not in endpoint.methods:
            allowed = ", ".join(endpoint.methods)
            return SeamError(
                405,
                "method_not_allowed",
                f"Method {request.method} is not allowed here; use {allowed}",
                headers={"Allow": allowed},
            ).response()
        body = await request.body()
        try:
            if endpoint.read_only and inline_reads:
                result = guarded(request, body)
            else:
                result = await run_in_threadpool(guarded, request, body)
        except SeamError as exc:
            return exc.response()
        return Response(_json({**result, "ok": True}), media_type="application/json")

    return view


def _json(body: dict[str, Any]) -> bytes:
    """``body`` as compact UTF-8 JSON, the bytes Starlette's JSONResponse writes for the
    values views hold (str, int, float, bool, None, lists, dicts with str keys), in a
    fraction of the time (orjson; non-str keys are written as json.dumps writes them)."""
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


View = Callable[[Request], Awaitable[Response]]


class EndpointDispatch:
    """ASGI middleware that hands a request for an endpoint's path straight to its view.

    Every endpoint is a fixed path, so one dictionary lookup finds it, where Starlette's
    router tries each route in turn and wraps the call in its exception middleware and
    per-route layers: together those cost about a fifth of a ``devices/get`` (profiled).
    The view answers every error itself, in the envelope; any other path goes on to the
    app (the console, the operational routes, 404s).
    """

    def __init__(self, app: ASGIApp, views: dict[str, View]) -> None:
        self.app = app
        self._views = views

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        view = self._views.get(scope["path"]) if scope["type"] == "http" else None
        if view is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        response = await view(Request(scope, receive))
        await response(scope, receive, send)


def mount(app: FastAPI, services: Services, endpoints: list[Endpoint]) -> None:
    """Register every endpoint on ``app`` with all methods (405 is ours to answer).

    Each is a plain Starlette route too (parameters are ours to parse, so FastAPI's
    per-request dependency machinery would only add latency), which keeps them in
    ``app.routes``; requests reach them through :class:`EndpointDispatch`.
    """
    views: dict[str, View] | None = getattr(app.state, "endpoint_views", None)
    if views is None:
        views = app.state.endpoint_views = {}
        app.add_middleware(EndpointDispatch, views=views)
    for endpoint in endpoints:
        view = _endpoint_view(services, endpoint)
        views[endpoint.path] = view
        app.router.add_route(endpoint.path, view, methods=ALL_METHODS, include_in_schema=False)
