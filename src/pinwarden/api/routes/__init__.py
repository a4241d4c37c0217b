"""One module per Seam resource; :func:`all_endpoints` gathers them."""

from __future__ import annotations

from pinwarden.api.routes import (
    access_codes,
    action_attempts,
    api_keys,
    audit_log,
    backup_codes,
    connected_accounts,
    device_constraints,
    devices,
    events,
    linked_codes,
    locks,
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
        *api_keys.ENDPOINTS,
        *audit_log.ENDPOINTS,
        *backup_codes.ENDPOINTS,
        *connected_accounts.ENDPOINTS,
        *device_constraints.ENDPOINTS,
        *devices.ENDPOINTS,
        *events.ENDPOINTS,
        *linked_codes.ENDPOINTS,
        *locks.ENDPOINTS,
        *unmanaged.ENDPOINTS,
        *webhooks.ENDPOINTS,
        *workspaces.ENDPOINTS,
    ]
