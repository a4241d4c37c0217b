"""seal PINs and webhook secrets at rest; digests to find codes by PIN; the keys in use

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:00:00.000000

"""

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

import pinwarden.store.tables
from pinwarden.store.events import split_secrets
from pinwarden.store.sealed import keys

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, was JSON): every value sealed, with the column as its purpose.
_SEALED = (
    ("access_codes", "code", False),
    ("access_codes", "slot_code", False),
    ("unmanaged_access_codes", "code", False),
    ("devices", "offline_code_secret", False),
    ("webhooks", "secret", False),
    ("connected_accounts", "config", True),
    ("action_attempts", "result", True),
    ("sandbox_slots", "code", False),
    ("sandbox_lock_events", "payload", True),
    ("sandbox_locks", "used_offline_pins", True),
)
_OLD_LENGTHS = {"offline_code_secret": 64, "secret": 80}
_DIGESTS = ("access_codes", "unmanaged_access_codes", "sandbox_slots")
_BATCH = 1000


Row = Mapping[str, Any]


def _rewrite(table: str, columns: list[sa.ColumnClause[Any]], change: Callable[[Row], Row]) -> None:
    """Rewrite ``columns`` of every row of ``table`` with ``change(row)``, in batches by key."""
    bind = op.get_bind()
    keys_ = sa.inspect(bind).get_pk_constraint(table)["constrained_columns"]
    t = sa.table(table, *(sa.column(k) for k in keys_), *columns)
    last: tuple[Any, ...] | None = None
    while True:
        stmt = sa.select(*t.c).order_by(*(t.c[k] for k in keys_)).limit(_BATCH)
        if last is not None:
            stmt = stmt.where(sa.tuple_(*(t.c[k] for k in keys_)) > sa.tuple_(*last))
        rows = [cast(Row, r._mapping) for r in bind.execute(stmt)]
        if not rows:
            return
        for row in rows:
            values = change(row)
            if values:
                bind.execute(t.update().where(*(t.c[k] == row[k] for k in keys_)).values(**values))
        last = tuple(rows[-1][k] for k in keys_)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "sealing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", pinwarden.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, was_json in _SEALED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.Text(),
                postgresql_using=f"{column}::text" if (postgres and was_json) else None,
            )
    for table in _DIGESTS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("code_digest", sa.String(length=32), nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("secrets", sa.Text(), nullable=True))

    ring = keys()

    def sealer(table: str, columns: list[tuple[str, bool]]) -> Callable[[Row], Row]:
        def change(row: Row) -> Row:
            values: dict[str, Any] = {}
            for column, _was_json in columns:
                value = row[column]
                values[column] = (
                    None if value is None else ring.seal(str(value), f"{table}.{column}")
                )
            if table in _DIGESTS and row["code"] is not None:
                values["code_digest"] = ring.digest(str(row["code"]))
            return values

        return change

    by_table: dict[str, list[tuple[str, bool]]] = {}
    for table, column, was_json in _SEALED:
        by_table.setdefault(table, []).append((column, was_json))
    for table, columns in by_table.items():
        digest: list[sa.ColumnClause[Any]] = [sa.column("code_digest")] if table in _DIGESTS else []
        _rewrite(table, [*(sa.column(c) for c, _ in columns), *digest], sealer(table, columns))

    def move_secrets(row: Row) -> Row:
        payload = dict(row["payload"])
        secrets = split_secrets(payload)
        if secrets is None:
            return {}
        return {"payload": payload, "secrets": ring.seal(json.dumps(secrets), "events.secrets")}

    _rewrite("events", [sa.column("payload", sa.JSON), sa.column("secrets")], move_secrets)
    # Replay guards were unkeyed digests of parameters that hold PINs; they last minutes.
    op.execute("DELETE FROM replay_guards")

    with op.batch_alter_table("sandbox_slots") as batch:
        batch.alter_column("code_digest", existing_type=sa.String(length=32), nullable=False)
    op.create_index("ix_access_codes_device_digest", "access_codes", ["device_id", "code_digest"])
    op.bulk_insert(
        sa.table(
            "sealing_keys",
            sa.column("key_id"),
            sa.column("created_at", pinwarden.store.tables.UTCDateTime()),
        ),
        [{"key_id": ring.current_id, "created_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    """Downgrade schema: every value opened back into clear text (the keys must be held)."""
    ring = keys()
    by_table: dict[str, list[str]] = {}
    for table, column, _was_json in _SEALED:
        by_table.setdefault(table, []).append(column)

    def opener(table: str, columns: list[str]) -> Callable[[Row], Row]:
        def change(row: Row) -> Row:
            return {
                c: None if row[c] is None else ring.open(str(row[c]), f"{table}.{c}")
                for c in columns
            }

        return change

    for table, columns in by_table.items():
        _rewrite(table, [sa.column(c) for c in columns], opener(table, columns))

    def restore_secrets(row: Row) -> Row:
        if row["secrets"] is None:
            return {}
        secrets = json.loads(ring.open(str(row["secrets"]), "events.secrets"))
        return {"payload": {**row["payload"], **secrets}, "secrets": None}

    _rewrite("events", [sa.column("payload", sa.JSON), sa.column("secrets")], restore_secrets)
    op.drop_index("ix_access_codes_device_digest", table_name="access_codes")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("secrets")
    for table in _DIGESTS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("code_digest")
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, was_json in _SEALED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.JSON() if was_json else sa.String(length=_OLD_LENGTHS.get(column, 20)),
                postgresql_using=f"{column}::json" if (postgres and was_json) else None,
            )
    op.drop_table("sealing_keys")
