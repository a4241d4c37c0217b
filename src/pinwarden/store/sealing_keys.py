"""Which keys a database's secrets are sealed with: checked at start, moved by a rotation.

The ``sealing_keys`` table lists by id every key that may have sealed a value in the
database. A process that does not hold all of them would fail on the first such value it
reads, so it refuses to start instead, saying which key is missing. A rotation re-seals
every value under the current key, batch by batch while the service runs, and only then
forgets the other keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Column, Table, Text, func, or_, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session

from pinwarden.store.db import Database
from pinwarden.store.sealed import PREFIX, Keyring, Sealed, SealedJSON, SecretKeyError, keys
from pinwarden.store.tables import Base, SealingKey


def check_keys(db: Database, ring: Keyring, now: datetime) -> None:
    """Refuse (:class:`SecretKeyError`) unless ``ring`` holds every key the database's
    secrets may be sealed with; then record the current key as one of them."""
    with db.write() as session:
        needed = set(session.scalars(select(SealingKey.key_id)))
        missing = sorted(needed - set(ring.key_ids))
        if missing:
            raise SecretKeyError(
                f"the database's PINs and secrets are sealed with key {', '.join(missing)}, "
                f"which {ring.origin} does not hold: set PINWARDEN_SECRET_KEY or "
                "PINWARDEN_SECRET_KEY_FILE to the key this database was sealed with"
            )
        if ring.current_id not in needed:
            session.add(SealingKey(key_id=ring.current_id, created_at=now))


@dataclass(frozen=True)
class _Sealed:
    table: Table
    columns: list[Column[Any]]
    digest: Column[Any] | None


def _sealed_tables() -> list[_Sealed]:
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, Sealed | SealedJSON)]
        if columns:
            digest = table.c.get("code_digest")
            found.append(_Sealed(table, columns, digest))
    return found


def _raw(column: Column[Any]) -> Any:
    return type_coerce(column, Text)


def _stale(sealed: _Sealed, key_id: str) -> Any:
    """Rows with a value or a digest under another key than ``key_id``."""
    stale = [_raw(c).not_like(f"{PREFIX}.{key_id}.%") for c in sealed.columns]
    if sealed.digest is not None:
        stale.append(sealed.digest.not_like(f"{key_id}.%"))
    return or_(*stale)


def reseal(db: Database, batch: int = 500) -> int:
    """Seal every value (and digest) not yet under the current key again under it,
    ``batch`` rows per transaction, in key order; returns how many rows were rewritten."""
    total = 0
    for sealed in _sealed_tables():
        key = list(sealed.table.primary_key.columns)
        last: tuple[Any, ...] | None = None
        while True:
            stmt = select(*key, *(_raw(c).label(c.name) for c in sealed.columns)).where(
                _stale(sealed, keys().current_id)
            )
            if last is not None:
                stmt = stmt.where(tuple_(*key) > tuple_(*last))
            with db.write() as session:
                rows = [r._mapping for r in session.execute(stmt.order_by(*key).limit(batch))]
                total += sum(_reseal_row(session, sealed, key, row) for row in rows)
            if len(rows) < batch:
                break
            last = tuple(rows[-1][k.name] for k in key)
    return total


def _reseal_row(session: Session, sealed: _Sealed, key: list[Column[Any]], row: Any) -> bool:
    """Seal one row's values again; False when a writer changed them meanwhile (that row
    is looked at again by the next round)."""
    ring = keys()
    values: dict[str, Any] = {}
    unchanged = []
    for column in sealed.columns:
        token = row[column.name]
        unchanged.append(_raw(column).is_(None) if token is None else _raw(column) == token)
        if token is None:
            continue
        purpose = column.type.purpose  # type: ignore[attr-defined]
        plain = ring.open(token, purpose, cache=False)
        # Written through the column's type, which seals under the current key.
        values[column.name] = orjson.loads(plain) if isinstance(column.type, SealedJSON) else plain
        if column.name == "code" and sealed.digest is not None:
            values[sealed.digest.name] = ring.digest(plain)
    if not values:
        return False
    done = session.execute(
        update(sealed.table).where(*(k == row[k.name] for k in key), *unchanged).values(values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def stale_count(db: Database) -> int:
    """How many rows still hold a value or digest under another key than the current one."""
    count = 0
    with db.read() as session:
        for sealed in _sealed_tables():
            stale = _stale(sealed, keys().current_id)
            count += (
                session.scalar(select(func.count()).select_from(sealed.table).where(stale)) or 0
            )
    return count


def forget_other_keys(db: Database, now: datetime) -> list[str]:
    """Once nothing is sealed under them, drop every key but the current one from the
    database's list; returns the ids dropped."""
    ring = keys()
    with db.write() as session:
        others = [k for k in session.scalars(select(SealingKey.key_id)) if k != ring.current_id]
        for key_id in others:
            session.delete(session.get(SealingKey, key_id))
        if session.get(SealingKey, ring.current_id) is None:
            session.add(SealingKey(key_id=ring.current_id, created_at=now))
    return others


def purge_old_pages(db: Database) -> None:
    """SQLite keeps overwritten rows in free pages and the WAL until reused: rebuild the
    file so nothing sealed under a retired key is left in it. (PostgreSQL: dead row
    versions stay until vacuumed; ``VACUUM FULL`` rewrites them away, offline.)"""
    if not db.is_sqlite:
        return
    with db.rows() as conn:
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
