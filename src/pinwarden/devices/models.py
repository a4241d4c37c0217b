"""Lock models pinwarden knows: their PIN rules and capabilities (spec §7.5)."""

from __future__ import annotations

from dataclasses import dataclass

from pinwarden.domain.codes import CodeRules


@dataclass(frozen=True)
class LockModel:
    """Static facts about one brand/model of lock."""

    key: str
    manufacturer: str
    display_name: str
    device_type: str
    supported_code_lengths: tuple[int, ...]
    max_active_codes_supported: int
    constraints: tuple[str, ...] = ()
    name_length: tuple[int, int] | None = None
    native_scheduling: bool = True
    # The lock keeps native schedules as local wall-clock times, so loading one needs
    # the device's time zone.
    local_time_schedules: bool = False
    can_program_offline_access_codes: bool = False
    supports_backup_access_code_pool: bool = True
    has_native_entry_events: bool = True
    unlock_events_carry_code_id: bool = True
    has_hub: bool = False
    default_name: str = "Lock"
    # PINs found on the lock are listed as unmanaged codes (not on Kwikset, R108).
    lists_unmanaged_codes: bool = True
    # Unmanaged codes can be adopted (not igloohome, Kwikset, SmartThings: R110, R173).
    can_convert_unmanaged_codes: bool = True
    # The PIN lengths are whatever the owner reports (report_device_constraints, R107).
    accepts_reported_constraints: bool = False

    def rules_for(self, reported_lengths: list[int] | None) -> CodeRules:
        """The PIN rules of one lock of this model, with any lengths reported for it."""
        lengths = tuple(reported_lengths) if reported_lengths else self.supported_code_lengths
        return CodeRules(lengths, frozenset(self.constraints))

    def schedules_natively(self, time_zone: str | None) -> bool:
        """Whether time-bound codes are loaded onto a lock of this model with their window.

        A lock that schedules in local time does so only once its zone is known: any
        guess (UTC, the server's zone) would open the door at the wrong hours. Until
        then pinwarden programs it just in time and enforces the window itself.
        """
        return self.native_scheduling and (time_zone is not None or not self.local_time_schedules)


LOCK_MODELS: dict[str, LockModel] = {
    m.key: m
    for m in (
        LockModel(
            key="august_wifi_smart_lock",
            manufacturer="august",
            display_name="Wi-Fi Smart Lock",
            device_type="august_lock",
            supported_code_lengths=(4, 5, 6, 7, 8),
            max_active_codes_supported=250,
            has_hub=True,
            default_name="Front Door",
        ),
        LockModel(
            key="schlage_encode",
            manufacturer="schlage",
            display_name="Encode Smart WiFi Deadbolt",
            device_type="schlage_lock",
            supported_code_lengths=(4, 5, 6, 7, 8),
            max_active_codes_supported=100,
            default_name="Back Door",
        ),
        LockModel(
            key="kwikset_halo",
            manufacturer="kwikset",
            display_name="Halo Touchscreen",
            device_type="kwikset_lock",
            supported_code_lengths=(4, 5, 6, 7, 8),
            max_active_codes_supported=250,
            constraints=("name_length",),
            name_length=(2, 14),
            default_name="Garage Door",
            lists_unmanaged_codes=False,
            can_convert_unmanaged_codes=False,
        ),
        LockModel(
            key="yale_assure_lock_2",
            manufacturer="yale",
            display_name="Assure Lock 2",
            device_type="yale_lock",
            supported_code_lengths=(4, 5, 6, 7, 8),
            max_active_codes_supported=250,
            default_name="Side Door",
        ),
        LockModel(
            key="nuki_smart_lock_4",
            manufacturer="nuki",
            display_name="Smart Lock 4th Gen with Keypad 2",
            device_type="nuki_lock",
            supported_code_lengths=(6,),
            max_active_codes_supported=200,
            constraints=("no_zeros", "cannot_start_with_12"),
            default_name="Apartment Door",
        ),
        LockModel(
            key="smartthings_zwave_lock",
            manufacturer="smartthings",
            display_name="Z-Wave Lock via SmartThings",
            device_type="smartthings_lock",
            supported_code_lengths=(4, 5, 6, 7, 8),
            max_active_codes_supported=27,
            native_scheduling=False,
            unlock_events_carry_code_id=False,
            has_hub=True,
            default_name="Storage Room",
            can_convert_unmanaged_codes=False,
            accepts_reported_constraints=True,
        ),
        LockModel(
            key="igloohome_deadbolt_2s",
            manufacturer="igloohome",
            display_name="Smart Deadbolt 2S",
            device_type="igloohome_lock",
            supported_code_lengths=(6,),
            max_active_codes_supported=100,
            constraints=("start_date_in_future",),
            can_program_offline_access_codes=True,
            unlock_events_carry_code_id=False,
            has_hub=True,
            default_name="Gate",
            can_convert_unmanaged_codes=False,
        ),
        LockModel(
            key="tedee_go",
            manufacturer="tedee",
            display_name="GO",
            device_type="tedee_lock",
            supported_code_lengths=(5, 6, 7, 8),
            max_active_codes_supported=100,
            constraints=("at_least_three_unique_digits", "no_ascending_or_descending_sequence"),
            has_hub=True,
            default_name="Office Door",
        ),
        LockModel(
            key="ttlock_keypad_1_6",
            manufacturer="ttlock",
            display_name="Keypad Lock (digits 1-6)",
            device_type="ttlock_lock",
            supported_code_lengths=(4, 5, 6, 7, 8, 9),
            max_active_codes_supported=150,
            constraints=("cannot_contain_0789", "cannot_contain_089"),
            local_time_schedules=True,
            has_hub=True,
            default_name="Shed",
        ),
    )
}

SANDBOX_MODEL_KEYS: tuple[str, ...] = tuple(LOCK_MODELS)
