"""What a Z-Wave node says about itself, as pinwarden describes a lock (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zwave_js_server.const import CommandClass

from pinwarden.devices.capabilities import LockCapabilities

if TYPE_CHECKING:
    from zwave_js_server.model.node import Node
    from zwave_js_server.model.value import Value

DEVICE_TYPE = "zwave_lock"
# Z-Wave user codes are 4 to 10 characters (User Code CC).
CODE_LENGTHS = tuple(range(4, 11))


def address_of(home_id: int, node_id: int) -> str:
    """A node's address: unique across Z-Wave networks (node ids repeat between them)."""
    return f"{home_id:08x}:{node_id}"


def node_and_home(address: str) -> tuple[int, int]:
    """The home id and node id in an address."""
    home, _, node = address.partition(":")
    return int(home, 16), int(node)


def has_cc(node: Node, cc: CommandClass) -> bool:
    """Whether the node supports the command class."""
    return any(info.id == cc.value for info in node.command_classes)


def battery_level(value: Value) -> float | None:
    """A Battery CC level value as a fraction; None for any other value."""
    if value.command_class != CommandClass.BATTERY or value.property_ != "level":
        return None
    level = value.value
    return max(0.0, min(1.0, level / 100)) if isinstance(level, int | float) else None


def battery(node: Node) -> float | None:
    """The node's last reported battery level as a fraction, when it has one."""
    levels = (battery_level(v) for v in node.values.values())
    return next((level for level in levels if level is not None), None)


def capabilities_of(node: Node, slot_count: int) -> LockCapabilities:
    """What a lock node can do, from its command classes and device config."""
    config = node.device_config
    door = has_cc(node, CommandClass.DOOR_LOCK)
    return LockCapabilities(
        device_type=DEVICE_TYPE,
        manufacturer=config.manufacturer or "Z-Wave",
        model_display_name=config.description or config.label or "Z-Wave lock",
        slot_count=slot_count,
        supported_code_lengths=CODE_LENGTHS,
        # Schedule Entry Lock CC is not used yet: windows are kept by programming just
        # in time.
        native_scheduling=False,
        can_lock=door,
        can_unlock=door,
        default_name=f"Z-Wave lock {node.node_id}",
        unlock_events_carry_code_id=True,
    )
