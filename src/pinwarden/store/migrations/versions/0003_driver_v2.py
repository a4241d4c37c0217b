"""driver interface v2: capabilities and addresses on devices, driver configuration on
connected accounts, the sandbox's state in its own tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 01:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pinwarden.store.tables

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = pinwarden.store.tables.UTCDateTime()

# The sandbox models' capabilities as they were when this migration was written: frozen
# here so that the migration means the same whatever the brand table becomes.
CAPABILITIES: dict[str, dict[str, object]] = {
    "august_wifi_smart_lock": {
        "device_type": "august_lock",
        "manufacturer": "august",
        "model_display_name": "Wi-Fi Smart Lock",
        "slot_count": 250,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": [],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": True,
        "default_name": "Front Door",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "schlage_encode": {
        "device_type": "schlage_lock",
        "manufacturer": "schlage",
        "model_display_name": "Encode Smart WiFi Deadbolt",
        "slot_count": 100,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": [],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": False,
        "default_name": "Back Door",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "kwikset_halo": {
        "device_type": "kwikset_lock",
        "manufacturer": "kwikset",
        "model_display_name": "Halo Touchscreen",
        "slot_count": 250,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": ["name_length"],
        "name_length": [2, 14],
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": False,
        "default_name": "Garage Door",
        "lists_unmanaged_codes": False,
        "can_convert_unmanaged_codes": False,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "yale_assure_lock_2": {
        "device_type": "yale_lock",
        "manufacturer": "yale",
        "model_display_name": "Assure Lock 2",
        "slot_count": 250,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": [],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": False,
        "default_name": "Side Door",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "nuki_smart_lock_4": {
        "device_type": "nuki_lock",
        "manufacturer": "nuki",
        "model_display_name": "Smart Lock 4th Gen with Keypad 2",
        "slot_count": 200,
        "supported_code_lengths": [6],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": ["no_zeros", "cannot_start_with_12"],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": False,
        "default_name": "Apartment Door",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "smartthings_zwave_lock": {
        "device_type": "smartthings_lock",
        "manufacturer": "smartthings",
        "model_display_name": "Z-Wave Lock via SmartThings",
        "slot_count": 27,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": False,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": [],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": False,
        "has_hub": True,
        "default_name": "Storage Room",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": False,
        "accepts_reported_constraints": True,
        "simulated": True,
    },
    "igloohome_deadbolt_2s": {
        "device_type": "igloohome_lock",
        "manufacturer": "igloohome",
        "model_display_name": "Smart Deadbolt 2S",
        "slot_count": 100,
        "supported_code_lengths": [6],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": ["start_date_in_future"],
        "name_length": None,
        "can_program_offline_access_codes": True,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": False,
        "has_hub": True,
        "default_name": "Gate",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": False,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "tedee_go": {
        "device_type": "tedee_lock",
        "manufacturer": "tedee",
        "model_display_name": "GO",
        "slot_count": 100,
        "supported_code_lengths": [5, 6, 7, 8],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": False,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": ["at_least_three_unique_digits", "no_ascending_or_descending_sequence"],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": True,
        "default_name": "Office Door",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
    "ttlock_keypad_1_6": {
        "device_type": "ttlock_lock",
        "manufacturer": "ttlock",
        "model_display_name": "Keypad Lock (digits 1-6)",
        "slot_count": 150,
        "supported_code_lengths": [4, 5, 6, 7, 8, 9],
        "pin_characters": "0123456789",
        "native_scheduling": True,
        "local_time_schedules": True,
        "can_lock": True,
        "can_unlock": True,
        "has_keypad": True,
        "constraints": ["cannot_contain_0789", "cannot_contain_089"],
        "name_length": None,
        "can_program_offline_access_codes": False,
        "supports_backup_access_code_pool": True,
        "has_native_entry_events": True,
        "unlock_events_carry_code_id": True,
        "has_hub": True,
        "default_name": "Shed",
        "lists_unmanaged_codes": True,
        "can_convert_unmanaged_codes": True,
        "accepts_reported_constraints": False,
        "simulated": True,
    },
}

ID = sa.String(length=36)


def upgrade() -> None:
    """Every existing device is a sandbox lock: its model becomes the capabilities it
    reports, and its simulator state moves to the sandbox's tables."""
    op.create_table(
        "sandbox_locks",
        sa.Column("lock_id", ID, nullable=False),
        sa.Column("connected_account_id", ID, nullable=False),
        sa.Column("model_key", sa.String(length=60), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("battery_level", sa.Float(), nullable=False),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("used_offline_pins", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connected_account_id"],
            ["connected_accounts.connected_account_id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lock_id"),
    )
    with op.batch_alter_table("sandbox_locks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_locks_connected_account_id"),
            ["connected_account_id"],
            unique=False,
        )
    op.create_table(
        "sandbox_slots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lock_id", ID, nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("starts_at", UTC, nullable=True),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("visible_from", UTC, nullable=False),
        sa.Column("gone_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["lock_id"], ["sandbox_locks.lock_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sandbox_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_slots_lock_id"), ["lock_id"], unique=False)
    op.create_table(
        "sandbox_lock_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lock_id", ID, nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    with op.batch_alter_table("connected_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("driver", sa.String(length=40), server_default="sandbox", nullable=False)
        )
        batch_op.add_column(sa.Column("config", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("discovery_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("address", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("capabilities", sa.JSON(), server_default="{}", nullable=False)
        )
        batch_op.add_column(sa.Column("battery_level", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("next_fresh_read_at", UTC, nullable=True))

    _move_sandbox_state()

    with op.batch_alter_table("connected_accounts", schema=None) as batch_op:
        batch_op.alter_column("driver", server_default=None)
        batch_op.alter_column("config", server_default=None)
        batch_op.alter_column("discovery_seq", server_default=None)
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column("address", server_default=None)
        batch_op.alter_column("capabilities", server_default=None)
        batch_op.create_unique_constraint("uq_devices_driver_address", ["driver", "address"])
        batch_op.drop_column("model_key")
        batch_op.drop_column("sim_faults")
        batch_op.drop_column("sim_used_offline_pins")
    with op.batch_alter_table("simulated_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simulated_slots_device_id"))
    op.drop_table("simulated_slots")


def _move_sandbox_state() -> None:
    """Each simulated device becomes a sandbox lock addressed by its device id."""
    bind = op.get_bind()
    devices = sa.table(
        "devices",
        sa.column("device_id", ID),
        sa.column("connected_account_id", ID),
        sa.column("driver", sa.String()),
        sa.column("model_key", sa.String()),
        sa.column("online", sa.Boolean()),
        sa.column("sim_faults", sa.JSON()),
        sa.column("sim_used_offline_pins", sa.JSON()),
        sa.column("address", sa.String()),
        sa.column("capabilities", sa.JSON()),
        sa.column("battery_level", sa.Float()),
    )
    locks = sa.table(
        "sandbox_locks",
        sa.column("lock_id", ID),
        sa.column("connected_account_id", ID),
        sa.column("model_key", sa.String()),
        sa.column("online", sa.Boolean()),
        sa.column("battery_level", sa.Float()),
        sa.column("faults", sa.JSON()),
        sa.column("used_offline_pins", sa.JSON()),
    )
    rows = bind.execute(
        sa.select(
            devices.c.device_id,
            devices.c.connected_account_id,
            devices.c.model_key,
            devices.c.online,
            devices.c.sim_faults,
            devices.c.sim_used_offline_pins,
        )
    ).all()
    for row in rows:
        bind.execute(
            locks.insert().values(
                lock_id=row.device_id,
                connected_account_id=row.connected_account_id,
                model_key=row.model_key,
                online=row.online,
                battery_level=0.9,
                faults=row.sim_faults or {},
                used_offline_pins=row.sim_used_offline_pins or [],
            )
        )
        bind.execute(
            devices.update()
            .where(devices.c.device_id == row.device_id)
            .values(
                driver="sandbox",
                address=row.device_id,
                capabilities=CAPABILITIES[row.model_key],
                battery_level=0.9,
            )
        )
    op.execute(
        "INSERT INTO sandbox_slots (lock_id, slot, code, name, starts_at, ends_at, visible_from,"
        " gone_at) SELECT device_id, slot, code, name, starts_at, ends_at, visible_from, gone_at"
        " FROM simulated_slots"
    )


def downgrade() -> None:
    """Back to model keys and simulator state on the devices table."""
    op.create_table(
        "simulated_slots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("starts_at", UTC, nullable=True),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("visible_from", UTC, nullable=False),
        sa.Column("gone_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("simulated_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_simulated_slots_device_id"), ["device_id"], unique=False
        )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("model_key", sa.String(length=60), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("sim_faults", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("sim_used_offline_pins", sa.JSON(), server_default="[]", nullable=False)
        )
    op.execute(
        "UPDATE devices SET"
        " model_key = (SELECT model_key FROM sandbox_locks l WHERE l.lock_id = devices.address),"
        " sim_faults = (SELECT faults FROM sandbox_locks l WHERE l.lock_id = devices.address),"
        " sim_used_offline_pins = (SELECT used_offline_pins FROM sandbox_locks l"
        " WHERE l.lock_id = devices.address),"
        " online = (SELECT online FROM sandbox_locks l WHERE l.lock_id = devices.address),"
        " driver = 'simulated'"
        " WHERE driver = 'sandbox'"
    )
    op.execute(
        "INSERT INTO simulated_slots (device_id, slot, code, name, starts_at, ends_at,"
        " visible_from, gone_at) SELECT devices.device_id, s.slot, s.code, s.name, s.starts_at,"
        " s.ends_at, s.visible_from, s.gone_at FROM sandbox_slots s"
        " JOIN devices ON devices.address = s.lock_id"
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column("model_key", server_default=None)
        batch_op.alter_column("sim_faults", server_default=None)
        batch_op.drop_constraint("uq_devices_driver_address", type_="unique")
        batch_op.drop_column("next_fresh_read_at")
        batch_op.drop_column("battery_level")
        batch_op.drop_column("capabilities")
        batch_op.drop_column("address")
    with op.batch_alter_table("connected_accounts", schema=None) as batch_op:
        batch_op.drop_column("discovery_seq")
        batch_op.drop_column("config")
        batch_op.drop_column("driver")
    op.drop_table("sandbox_lock_events")
    with op.batch_alter_table("sandbox_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_slots_lock_id"))
    op.drop_table("sandbox_slots")
    with op.batch_alter_table("sandbox_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_locks_connected_account_id"))
    op.drop_table("sandbox_locks")
