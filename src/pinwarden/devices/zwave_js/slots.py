"""A lock node's user-code slots as the Z-Wave JS server's cache holds them.

zwave-js keeps two values per slot: ``userIdStatus`` (Available, Enabled, Disabled,
Messaging, Passage mode, or 0xFE "status not available") and ``userCode``. Anything but
Available occupies the slot: a disabled PIN is still in the lock's memory, and
programming over it would destroy a code someone else set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zwave_js_server.const.command_class.lock import (
    LOCK_USERCODE_PROPERTY,
    LOCK_USERCODE_STATUS_PROPERTY,
    CodeSlotStatus,
)
from zwave_js_server.exceptions import NotFoundError

if TYPE_CHECKING:
    from zwave_js_server.model.node import Node

AVAILABLE = CodeSlotStatus.AVAILABLE.value
ENABLED = CodeSlotStatus.ENABLED.value


def pin_of(value: object) -> str | None:
    """A PIN as the lock reports it; None when it hides them (``****``) or sends none."""
    if not isinstance(value, str) or not value or set(value) == {"*"}:
        return None
    return value


@dataclass(frozen=True)
class CachedSlot:
    """One slot: its raw status (None until the lock was asked) and PIN."""

    slot: int
    status: int | None
    code: str | None

    @property
    def known(self) -> bool:
        return self.status is not None

    @property
    def occupied(self) -> bool:
        return self.status is not None and self.status != AVAILABLE


def cached_slot(node: Node, slot: int) -> CachedSlot | None:
    """One slot as the cache holds it; None past the node's last slot."""
    from zwave_js_server.util.lock import get_code_slot_value  # loaded with the connection

    try:
        code = get_code_slot_value(node, slot, LOCK_USERCODE_PROPERTY)
        status = get_code_slot_value(node, slot, LOCK_USERCODE_STATUS_PROPERTY)
    except NotFoundError:
        return None
    raw = status.value
    return CachedSlot(slot, raw if isinstance(raw, int) else None, pin_of(code.value))


def cached_slots(node: Node) -> list[CachedSlot]:
    """Every slot the node's interview found, in order, as the cache holds it."""
    slots: list[CachedSlot] = []
    while (found := cached_slot(node, len(slots) + 1)) is not None:
        slots.append(found)
    return slots


def answered(slot: int, answer: object) -> CachedSlot | None:
    """A User Code Get's answer (``{"userIdStatus", "userCode"}``); None for no answer."""
    if not isinstance(answer, dict) or not isinstance(answer.get("userIdStatus"), int):
        return None
    return CachedSlot(slot, answer["userIdStatus"], pin_of(answer.get("userCode")))
