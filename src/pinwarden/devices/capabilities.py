"""What a lock reports about itself: stored on its device row, read by the engine and API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pinwarden.domain.codes import CodeRules


@dataclass(frozen=True)
class LockCapabilities:
    """Capabilities and behaviour rules of one lock, as its driver discovered them.

    The first group is what any protocol can report (a Z-Wave node's user-code count and
    characters, Door Lock support); the rest are the brand's behaviour rules Seam
    documents (spec §7.5), which a vendor driver knows for its locks.
    """

    device_type: str
    manufacturer: str
    model_display_name: str
    slot_count: int
    supported_code_lengths: tuple[int, ...]
    pin_characters: str = "0123456789"
    native_scheduling: bool = True
    # The lock keeps native schedules as local wall-clock times, so loading one needs
    # the device's time zone.
    local_time_schedules: bool = False
    can_lock: bool = True
    can_unlock: bool = True
    has_keypad: bool = True
    constraints: tuple[str, ...] = ()
    name_length: tuple[int, int] | None = None
    can_program_offline_access_codes: bool = False
    supports_backup_access_code_pool: bool = True
    has_native_entry_events: bool = True
    unlock_events_carry_code_id: bool = True
    has_hub: bool = False
    # The name a lock gets when it is added or its name is cleared.
    default_name: str = "Lock"
    # PINs found on the lock are listed as unmanaged codes (not on Kwikset, R108).
    lists_unmanaged_codes: bool = True
    # Unmanaged codes can be adopted (not igloohome, Kwikset, SmartThings: R110, R173).
    can_convert_unmanaged_codes: bool = True
    # The PIN lengths are whatever the owner reports (report_device_constraints, R107).
    accepts_reported_constraints: bool = False
    # A simulated lock: the sandbox's simulate routes work on it.
    simulated: bool = False

    def rules_for(self, reported_lengths: list[int] | None) -> CodeRules:
        """The PIN rules of this lock, with any lengths reported for it."""
        lengths = tuple(reported_lengths) if reported_lengths else self.supported_code_lengths
        return CodeRules(lengths, frozenset(self.constraints))

    def schedules_natively(self, time_zone: str | None) -> bool:
        """Whether time-bound codes are loaded onto this lock with their window.

        A lock that schedules in local time does so only once its zone is known: any
        guess (UTC, the server's zone) would open the door at the wrong hours. Until
        then pinwarden programs it just in time and enforces the window itself.
        """
        return self.native_scheduling and (time_zone is not None or not self.local_time_schedules)

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``devices.capabilities``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockCapabilities:
        """Read stored capabilities; keys this version does not know are ignored, so a
        newer writer's row still loads."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("supported_code_lengths", "constraints", "name_length"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)
