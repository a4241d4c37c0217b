"""recurring access codes (a pinwarden extension): weekly windows on access_codes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("access_codes", sa.Column("recurrence", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("access_codes") as batch:
        batch.drop_column("recurrence")
