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
from pinwarden.sandbox.models import LOCK_MODELS

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = pinwarden.store.tables.UTCDateTime()
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
                capabilities=LOCK_MODELS[row.model_key].to_json(),
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
        batch_op.drop_column("config")
        batch_op.drop_column("driver")
    op.drop_table("sandbox_lock_events")
    with op.batch_alter_table("sandbox_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_slots_lock_id"))
    op.drop_table("sandbox_slots")
    with op.batch_alter_table("sandbox_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_locks_connected_account_id"))
    op.drop_table("sandbox_locks")
