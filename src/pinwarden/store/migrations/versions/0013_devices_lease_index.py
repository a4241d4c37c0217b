"""index devices by lease end: the worker finds its next wake-up without a scan

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 07:45:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_devices_lease_until", "devices", ["lease_until"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_devices_lease_until", table_name="devices")
