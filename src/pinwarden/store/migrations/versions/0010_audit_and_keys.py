"""audit log; API keys get a name, an expiry, a read-only flag and a last use

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pinwarden.store.tables

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = pinwarden.store.tables.UTCDateTime

_INDEXES = (
    ("ix_audit_log_workspace_created", ["workspace_id", "created_at", "seq"]),
    ("ix_audit_log_device_created", ["device_id", "created_at", "seq"]),
    ("ix_audit_log_access_code_created", ["access_code_id", "created_at", "seq"]),
    ("ix_audit_log_actor_created", ["actor_id", "created_at", "seq"]),
    ("ix_audit_log_created", ["created_at"]),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("expires_at", _UTC(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("is_read_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("last_used_at", _UTC(timezone=True), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("audit_log_entry_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("source_address", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("operation", sa.String(length=10), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("access_code_id", sa.String(length=36), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("audit_log_entry_id"),
    )
    for name, columns in _INDEXES:
        op.create_index(name, "audit_log", columns, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("is_read_only")
        batch.drop_column("expires_at")
        batch.drop_column("name")
