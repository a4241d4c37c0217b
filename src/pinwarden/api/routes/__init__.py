"""One module per Seam resource; :func:`all_endpoints` gathers them."""

from __future__ import annotations

from pinwarden.api.routes import (
    access_codes,
    action_attempts,
    devices,
    events,
    simulate,
    unmanaged,
    webhooks,
    workspaces,
)
from pinwarden.api.wire import Endpoint


def all_endpoints() -> list[Endpoint]:
    """Every route pinwarden serves."""
    return [
        *access_codes.ENDPOINTS,
        *action_attempts.ENDPOINTS,
        *devices.ENDPOINTS,
        *events.ENDPOINTS,
        *simulate.ENDPOINTS,
        *unmanaged.ENDPOINTS,
        *webhooks.ENDPOINTS,
        *workspaces.ENDPOINTS,
    ]
