"""The API description (``/openapi.json``) and its docs page (``/docs``), generated from the
wire adapter's endpoint table, so what is described is exactly what is mounted."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from pinwarden import __version__
from pinwarden.api.wire import Endpoint, Params

# Operational routes: no authentication, no Seam envelope.
OPS_ROUTES: dict[str, tuple[str, str]] = {
    "/health": ("The process is alive.", "application/json"),
    "/ready": (
        "Database reachable, migrations current and, where this process runs it, the worker"
        " looking at its queue; 503 naming the failed check otherwise.",
        "application/json",
    ),
    "/metrics": ("Prometheus metrics (text exposition format).", "text/plain"),
    "/openapi.json": ("This description.", "application/json"),
    "/docs": ("A readable list of every route.", "text/html"),
}

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# "GET/POST /devices/get: …" in a handler's docstring repeats what the spec already says.
_ROUTE_PREFIX = re.compile(r"^[A-Z/]+ /\S+[\s.,;:]*")
# Rule references point into the internal behaviour spec, which readers do not have.
_RULE_REF = re.compile(r"\s*\((?:spec )?(?:R|S|T|§)\d[^)]*\)")

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean", "const": False},
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        },
    },
}


def _description(endpoint: Endpoint) -> str:
    """The handler's note on what pinwarden does beyond the route's name, if any."""
    doc = (endpoint.handler.__doc__ or "").strip().split("\n\n")[0]
    text = _ROUTE_PREFIX.sub("", _RULE_REF.sub("", " ".join(doc.split()))).strip()
    return text[:1].upper() + text[1:]


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + path.strip("/").replace("/", "_").replace(".", "_")


def build_openapi(endpoints: Sequence[Endpoint], metrics: bool) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``endpoints`` (plus the operational routes; ``/metrics``
    only when it is served)."""
    models: list[type[Params]] = list(dict.fromkeys(e.params for e in endpoints))
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        schema = refs[(endpoint.params, "validation")]
        properties = schemas[schema["$ref"].rsplit("/", 1)[1]].get("properties", {})
        fields = endpoint.params.model_fields
        operations: dict[str, Any] = {}
        for method in endpoint.methods:
            operation: dict[str, Any] = {
                "operationId": _operation_id(method, endpoint.path),
                "summary": endpoint.path,
                "description": _description(endpoint),
                "tags": [endpoint.path.strip("/").split("/")[0]],
                "responses": {
                    "200": {
                        "description": 'The resource under its name, with "ok": true.',
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "default": {
                        "description": "Seam's error envelope.",
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    },
                },
            }
            if method in _BODY_METHODS:
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": schema}},
                }
            else:
                operation["parameters"] = [
                    {
                        "name": name,
                        "in": "query",
                        "required": field.is_required(),
                        "schema": properties.get(name, {}),
                    }
                    for name, field in fields.items()
                ]
            operations[method.lower()] = operation
        paths[endpoint.path] = operations
    for path, (summary, content_type) in OPS_ROUTES.items():
        if path == "/metrics" and not metrics:
            continue
        paths[path] = {
            "get": {
                "operationId": _operation_id("GET", path),
                "summary": path,
                "description": summary,
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "OK", "content": {content_type: {}}}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pinwarden",
            "version": __version__,
            "description": "Seam-compatible Access Codes API, self-hosted.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def docs_page(spec: dict[str, Any]) -> str:
    """A self-contained HTML page listing every route of ``spec`` (no CDN needed)."""
    rows = []
    for path, operations in spec["paths"].items():
        methods = " ".join(m.upper() for m in operations)
        first = next(iter(operations.values()))
        rows.append(
            f"<tr><td><code>{html.escape(path)}</code></td><td>{methods}</td>"
            f"<td>{html.escape(first['description'])}</td></tr>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>pinwarden API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;"
        "vertical-align:top}tr:nth-child(even){background:#f4f4f4}</style></head><body>"
        f"<h1>pinwarden API {html.escape(spec['info']['version'])}</h1>"
        "<p>Every route takes <code>Authorization: Bearer seam_…</code> except the"
        " operations routes. Parameters: <a href='/openapi.json'>/openapi.json</a>.</p>"
        "<table><tr><th>route</th><th>methods</th><th>notes</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
