"""Seam's error envelope (R41–R45) as exceptions the adapter turns into responses."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from pinwarden.domain.errors import RuleViolation


class SeamError(Exception):
    """An error with Seam's ``type``, ``message`` and HTTP status."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        data: dict[str, Any] | None = None,
        validation_errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.data = data
        self.validation_errors = validation_errors
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON envelope."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        if self.validation_errors is not None:
            error["validation_errors"] = self.validation_errors
        return {"error": error, "ok": False}

    def response(self) -> JSONResponse:
        """The envelope as the HTTP response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(resource: str, **data: Any) -> SeamError:
    """404 ``<resource>_not_found`` echoing the ids looked up (R43)."""
    label = resource.replace("_", " ").capitalize()
    return SeamError(404, f"{resource}_not_found", f"{label} not found", data=data)


def internal_error() -> SeamError:
    """500 in Seam's envelope, for anything unexpected; the details stay in the log."""
    return SeamError(500, "internal_server_error", "Internal server error")


def invalid_input(message: str, param: str | None = None) -> SeamError:
    """400 ``invalid_input`` for one broken rule, with the Zod-style error tree (R44)."""
    tree: dict[str, Any] = {"_errors": []}
    if param is None:
        tree["_errors"].append(message)
    else:
        tree[param] = {"_errors": [message]}
    return SeamError(400, "invalid_input", message, validation_errors=tree)


def from_rule(violation: RuleViolation) -> SeamError:
    """A domain rule violation as ``invalid_input``."""
    return invalid_input(violation.message, violation.param)


def from_validation(exc: ValidationError) -> SeamError:
    """Pydantic errors as Seam's ``invalid_input`` with a message per R45."""
    tree: dict[str, Any] = {"_errors": []}
    issues: list[str] = []
    for err in exc.errors(include_url=False):
        path = [str(part) for part in err["loc"]]
        dotted = ".".join(path)
        if err["type"] == "missing":
            msg = "Required"
            issues.append(f"{dotted} is required")
        else:
            msg = str(err["msg"])
            issues.append(f'{msg} for "{dotted}"' if dotted else msg)
        node = tree
        for part in path:
            node = node.setdefault(part, {"_errors": []})
        node["_errors"].append(msg)
    message = issues[0] if len(issues) == 1 else f"{len(issues)} Input Errors: " + ", ".join(issues)
    return SeamError(400, "invalid_input", message, validation_errors=tree)
