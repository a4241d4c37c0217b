"""One process at a time hears a connected account's locks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pinwarden.store.tables

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("connected_accounts") as batch:
        batch.add_column(sa.Column("listener_id", sa.String(length=36), nullable=True))
        batch.add_column(
            sa.Column(
                "listener_until", pinwarden.store.tables.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("connected_accounts") as batch:
        batch.drop_column("listener_until")
        batch.drop_column("listener_id")
