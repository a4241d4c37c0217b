"""The sandbox's lock models: the data its simulated driver reports as capabilities
(spec §7.5). Nothing outside :mod:`pinwarden.sandbox` reads this table; the engine and API
use the capabilities stored on each device."""

from __future__ import annotations

from pinwarden.devices.capabilities import LockCapabilities

LOCK_MODELS: dict[str, LockCapabilities] = {
    key: caps
    for key, caps in (
        (
            "august_wifi_smart_lock",
            LockCapabilities(
                simulated=True,
                manufacturer="august",
                model_display_name="Wi-Fi Smart Lock",
                device_type="august_lock",
                supported_code_lengths=(4, 5, 6, 7, 8),
                slot_count=250,
                has_hub=True,
                default_name="Front Door",
            ),
        ),
        (
            "schlage_encode",
            LockCapabilities(
                simulated=True,
                manufacturer="schlage",
                model_display_name="Encode Smart WiFi Deadbolt",
                device_type="schlage_lock",
                supported_code_lengths=(4, 5, 6, 7, 8),
                slot_count=100,
                default_name="Back Door",
            ),
        ),
        (
            "kwikset_halo",
            LockCapabilities(
                simulated=True,
                manufacturer="kwikset",
                model_display_name="Halo Touchscreen",
                device_type="kwikset_lock",
                supported_code_lengths=(4, 5, 6, 7, 8),
                slot_count=250,
                constraints=("name_length",),
                name_length=(2, 14),
                default_name="Garage Door",
                lists_unmanaged_codes=False,
                can_convert_unmanaged_codes=False,
            ),
        ),
        (
            "yale_assure_lock_2",
            LockCapabilities(
                simulated=True,
                manufacturer="yale",
                model_display_name="Assure Lock 2",
                device_type="yale_lock",
                supported_code_lengths=(4, 5, 6, 7, 8),
                slot_count=250,
                default_name="Side Door",
            ),
        ),
        (
            "nuki_smart_lock_4",
            LockCapabilities(
                simulated=True,
                manufacturer="nuki",
                model_display_name="Smart Lock 4th Gen with Keypad 2",
                device_type="nuki_lock",
                supported_code_lengths=(6,),
                slot_count=200,
                constraints=("no_zeros", "cannot_start_with_12"),
                default_name="Apartment Door",
            ),
        ),
        (
            "smartthings_zwave_lock",
            LockCapabilities(
                simulated=True,
                manufacturer="smartthings",
                model_display_name="Z-Wave Lock via SmartThings",
                device_type="smartthings_lock",
                supported_code_lengths=(4, 5, 6, 7, 8),
                slot_count=27,
                native_scheduling=False,
                unlock_events_carry_code_id=False,
                has_hub=True,
                default_name="Storage Room",
                can_convert_unmanaged_codes=False,
                accepts_reported_constraints=True,
            ),
        ),
        (
            "igloohome_deadbolt_2s",
            LockCapabilities(
                simulated=True,
                manufacturer="igloohome",
                model_display_name="Smart Deadbolt 2S",
                device_type="igloohome_lock",
                supported_code_lengths=(6,),
                slot_count=100,
                constraints=("start_date_in_future",),
                can_program_offline_access_codes=True,
                unlock_events_carry_code_id=False,
                has_hub=True,
                default_name="Gate",
                can_convert_unmanaged_codes=False,
            ),
        ),
        (
            "tedee_go",
            LockCapabilities(
                simulated=True,
                manufacturer="tedee",
                model_display_name="GO",
                device_type="tedee_lock",
                supported_code_lengths=(5, 6, 7, 8),
                slot_count=100,
                constraints=("at_least_three_unique_digits", "no_ascending_or_descending_sequence"),
                has_hub=True,
                default_name="Office Door",
            ),
        ),
        (
            "ttlock_keypad_1_6",
            LockCapabilities(
                simulated=True,
                manufacturer="ttlock",
                model_display_name="Keypad Lock (digits 1-6)",
                device_type="ttlock_lock",
                supported_code_lengths=(4, 5, 6, 7, 8, 9),
                slot_count=150,
                constraints=("cannot_contain_0789", "cannot_contain_089"),
                local_time_schedules=True,
                has_hub=True,
                default_name="Shed",
            ),
        ),
    )
}

SANDBOX_MODEL_KEYS: tuple[str, ...] = tuple(LOCK_MODELS)
