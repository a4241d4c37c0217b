"""API keys can be revoked

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pinwarden.store.tables

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column(
                "revoked_at", pinwarden.store.tables.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_at")
