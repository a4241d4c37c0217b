"""What a Z-Wave lock's Access Control notifications mean to pinwarden (pure).

Z-Wave locks report keypad, manual and automatic operations and keypad programming as
Notification CC reports of type 6 (Access Control); zwave-js parses them into an event
number and parameters (``userId`` for the user-code slot involved).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from zwave_js_server.const.command_class.notification import (
    AccessControlNotificationEvent as Ev,
)

from pinwarden.devices.driver import (
    AccessDenied,
    DeviceEvent,
    KeypadUnlock,
    ManualLockChange,
    SlotChanged,
)

ACCESS_CONTROL = 6

# Locked or unlocked, and the Seam ``method`` (keycode, manual, automatic, unknown,
# seamapi) it shows as.
_LOCK_CHANGES: dict[int, tuple[bool, str]] = {
    Ev.MANUAL_LOCK_OPERATION: (True, "manual"),
    Ev.MANUAL_UNLOCK_OPERATION: (False, "manual"),
    # Another Z-Wave controller (a hub, a remote) sent the command.
    Ev.RF_LOCK_OPERATION: (True, "unknown"),
    Ev.RF_UNLOCK_OPERATION: (False, "unknown"),
    Ev.KEYPAD_LOCK_OPERATION: (True, "keycode"),
    Ev.LOCK_OPERATION_WITH_USER_CODE: (True, "keycode"),
    Ev.AUTO_LOCK_LOCKED_OPERATION: (True, "automatic"),
}
RF_OPERATIONS = frozenset({Ev.RF_LOCK_OPERATION, Ev.RF_UNLOCK_OPERATION})
_UNLOCKS_WITH_CODE = frozenset({Ev.KEYPAD_UNLOCK_OPERATION, Ev.UNLOCK_OPERATION_WITH_USER_CODE})
_REFUSED = frozenset(
    {
        Ev.MANUALLY_ENTER_USER_ACCESS_CODE_EXCEEDS_CODE_LIMIT,
        Ev.UNLOCK_BY_RF_WITH_INVALID_USER_CODE,
        Ev.LOCKED_BY_RF_WITH_INVALID_USER_CODE,
    }
)
_SLOT_CHANGES = frozenset(
    {Ev.NEW_USER_CODE_ADDED, Ev.SINGLE_USER_CODE_DELETED, Ev.ALL_USER_CODES_DELETED}
)


def user_slot(parameters: Mapping[str, Any]) -> int | None:
    """The user-code slot a notification names, when it names one."""
    value = parameters.get("userId")
    return value if isinstance(value, int) and value > 0 else None


def access_control_event(
    address: str, event: int, parameters: Mapping[str, Any], at: datetime
) -> DeviceEvent | None:
    """The device event an Access Control notification stands for; None for the ones
    pinwarden does not follow (door sensors, jams, barrier states)."""
    slot = user_slot(parameters)
    if event in _UNLOCKS_WITH_CODE:
        return KeypadUnlock(address, at, slot)
    if event in _LOCK_CHANGES:
        locked, method = _LOCK_CHANGES[event]
        return ManualLockChange(address, at, locked, method)
    if event in _REFUSED:
        return AccessDenied(address, at)
    if event in _SLOT_CHANGES:
        # All codes deleted names no slot: the whole lock is read again.
        return SlotChanged(address, at, None if event == Ev.ALL_USER_CODES_DELETED else slot)
    return None
