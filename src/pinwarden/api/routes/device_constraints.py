"""``/access_codes/report_device_constraints``: the owner tells pinwarden which PIN lengths a
lock accepts, for locks that cannot say so themselves (spec §3.10)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from pinwarden.api.context import RequestContext
from pinwarden.api.errors import invalid_input
from pinwarden.api.lookup import device_in_workspace
from pinwarden.api.params import Id
from pinwarden.api.wire import Endpoint, Params

CodeLength = Annotated[int, Field(ge=4, le=20)]


class ReportParams(Params):
    device_id: Id
    supported_code_lengths: list[CodeLength] | None = Field(default=None, min_length=1)
    min_code_length: CodeLength | None = None
    max_code_length: CodeLength | None = None


def _lengths(params: ReportParams) -> list[int]:
    """The reported lengths in one form, whichever style the request used (R106)."""
    bounds = (params.min_code_length, params.max_code_length)
    if params.supported_code_lengths is not None:
        if bounds != (None, None):
            raise invalid_input(
                "Provide either supported_code_lengths or min_code_length/max_code_length",
                "supported_code_lengths",
            )
        return sorted(set(params.supported_code_lengths))
    if bounds == (None, None):
        raise invalid_input(
            "Provide supported_code_lengths or min_code_length/max_code_length",
            "supported_code_lengths",
        )
    low, high = params.min_code_length or 4, params.max_code_length or 20
    if low > high:
        raise invalid_input("min_code_length is greater than max_code_length", "min_code_length")
    return list(range(low, high + 1))


def report(ctx: RequestContext, params: ReportParams) -> dict[str, Any]:
    """POST /access_codes/report_device_constraints (R106–R107): from now on create,
    create_multiple and generate_code accept and generate PINs of these lengths."""
    lengths = _lengths(params)
    with ctx.services.db.write() as session:
        device = device_in_workspace(session, ctx.workspace_id, params.device_id, for_update=True)
        model = device.caps
        if not model.accepts_reported_constraints:
            raise invalid_input(
                f"{model.manufacturer} locks report their own code constraints", "device_id"
            )
        device.reported_code_lengths = lengths
    return {}


ENDPOINTS = [
    Endpoint("/access_codes/report_device_constraints", ("POST",), ReportParams, report),
]
