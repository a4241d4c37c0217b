"""index action attempts by device and status, for the passes that run door commands

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_action_attempts_device_status",
        "action_attempts",
        ["device_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_action_attempts_device_status", table_name="action_attempts")
