"""index the filters the API offers: events by device, access code and type; devices by
connected account and name

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_events_device_created", "events", ["device_id", "created_at", "seq"]),
    ("ix_events_access_code_created", "events", ["access_code_id", "created_at", "seq"]),
    ("ix_events_workspace_type_created", "events", ["workspace_id", "event_type", "created_at"]),
    (
        "ix_devices_account_created",
        "devices",
        ["connected_account_id", "created_at", "device_id"],
    ),
    ("ix_devices_workspace_name", "devices", ["workspace_id", "name"]),
)


def upgrade() -> None:
    """Upgrade schema."""
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
