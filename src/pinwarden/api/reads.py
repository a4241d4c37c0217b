"""The columns and statements behind the busiest reads, in SQLAlchemy Core.

Profiled, ORM sessions (identity map, instrumented attributes, a transaction per
session) and rebuilding statements per request cost more than the queries themselves on
these paths. Here each read is one prebuilt statement with bound parameters (SQLAlchemy
reuses its compiled form) run on :meth:`~pinwarden.store.db.Database.rows`, and rows go
straight to their wire views.

A view is a function of its row alone (but for a recurring code's next occurrence, which
moves with the clock), and building it cost more than reading it: views are kept by the
whole row as read (:class:`RawColumns`), so a row that changed in any column is a new key
and never meets an old view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import Label
from sqlalchemy.types import NullType, TypeDecorator

from pinwarden.api.new_codes import device_facts
from pinwarden.store.tables import AccessCode, Device
from pinwarden.store.views import access_code_view, device_view


class RawColumns:
    """Columns read as the driver gives them, to key kept views; processed only to build
    a view that is not kept yet.

    SQLAlchemy's own processing of a row (timestamps parsed, PINs opened, JSON parsed)
    costs more than reading it, and a kept view needs none of it. JSON columns are read
    as their text (a list is no key) and parsed here.
    """

    def __init__(self, *columns: Any) -> None:
        # As SQLAlchemy reads them (what :meth:`parsed` gives back).
        self.columns = columns
        self.names = tuple(column.key for column in columns)
        # A labelled column is read under its label.
        self._columns = tuple(
            column.element if isinstance(column, Label) else column for column in columns
        )
        self.selected: tuple[Any, ...] = tuple(
            (
                cast(column, Text)
                if isinstance(column.type, JSON)
                else type_coerce(column, NullType())
                if _processed(column.type)
                else column
            ).label(name)
            for name, column in zip(self.names, self._columns, strict=True)
        )
        self._processors: dict[str, list[Callable[[Any], Any] | None]] = {}

    def _processors_for(self, dialect: Dialect) -> list[Callable[[Any], Any] | None]:
        found = self._processors.get(dialect.name)
        if found is None:
            found = [
                _parse_json
                if isinstance(column.type, JSON)
                else column.type.dialect_impl(dialect).result_processor(dialect, None)
                if _processed(column.type)
                else None
                for column in self._columns
            ]
            self._processors[dialect.name] = found
        return found

    def value(self, dialect: Dialect, row: Row[Any], name: str) -> Any:
        """One column of ``row`` as SQLAlchemy would give it."""
        index = self.names.index(name)
        raw = row[index]
        process = self._processors_for(dialect)[index]
        return raw if raw is None or process is None else process(raw)

    def parsed(self, dialect: Dialect, values: tuple[Any, ...]) -> Any:
        """The row as SQLAlchemy would give it, by name."""
        processors = self._processors_for(dialect)
        return SimpleNamespace(
            **{
                name: value if value is None or process is None else process(value)
                for name, process, value in zip(self.names, processors, values, strict=True)
            }
        )


def _processed(type_: Any) -> bool:
    """Whether SQLAlchemy works on a column's values after reading them (timestamps,
    sealed values, SQLite's 0/1 booleans): those are read raw. Strings and numbers come
    from the driver as they are served."""
    return isinstance(type_, TypeDecorator | Boolean)


def _parse_json(text: str) -> Any:
    return orjson.loads(text)


# What access_code_view reads, and the two facts of its device it shows (R140, R177).
CODES = RawColumns(
    AccessCode.access_code_id,
    AccessCode.device_id,
    AccessCode.workspace_id,
    AccessCode.name,
    AccessCode.code,
    AccessCode.common_code_key,
    AccessCode.starts_at,
    AccessCode.ends_at,
    AccessCode.created_at,
    AccessCode.status,
    AccessCode.errors,
    AccessCode.warnings,
    AccessCode.is_external_modification_allowed,
    AccessCode.is_offline_access_code,
    AccessCode.is_one_time_use,
    AccessCode.is_backup,
    AccessCode.pulled_backup_access_code_id,
    AccessCode.is_scheduled_on_device,
    AccessCode.recurrence,
    Device.errors.label("device_errors"),
    Device.backup_pool_enabled.label("device_pool_enabled"),
)

# What device_view reads.
DEVICES = RawColumns(
    Device.device_id,
    Device.workspace_id,
    Device.connected_account_id,
    Device.capabilities,
    Device.name,
    Device.online,
    Device.locked,
    Device.battery_level,
    Device.reported_code_lengths,
    Device.created_at,
    Device.custom_metadata,
    Device.errors,
    Device.time_zone,
)

# Views kept (a code's is about 3 kB with its key): a page of a few hundred devices' codes.
_KEPT_VIEWS = 1 << 13


def codes_with_devices() -> Select[Any]:
    """Managed codes joined to their devices, as :func:`code_row_view` reads them."""
    columns: tuple[Any, ...] = CODES.selected
    return select(*columns).join(Device, Device.device_id == AccessCode.device_id)


def code_row_view(dialect: Dialect, row: Row[Any], now: datetime) -> dict[str, Any]:
    """The wire view of a :func:`codes_with_devices` row at ``now``."""
    values = tuple(row)
    if row.recurrence in (None, "null"):
        view = _kept_code_view(dialect, values)
        # The caller's own dict and lists: a kept view is never handed out to be changed.
        return {
            **view,
            "errors": list(view["errors"]),
            "warnings": list(view["warnings"]),
            "pending_mutations": [],
        }
    return _code_view(dialect, values, now)


def _code_view(dialect: Dialect, values: tuple[Any, ...], now: datetime | None) -> dict[str, Any]:
    code = CODES.parsed(dialect, values)
    return access_code_view(
        code,
        *device_facts(code.device_errors, code.device_pool_enabled),
        now=now,
    )


@functools.lru_cache(maxsize=_KEPT_VIEWS)
def _kept_code_view(dialect: Dialect, values: tuple[Any, ...]) -> dict[str, Any]:
    """The view of a code that does not recur (``now`` changes nothing in it)."""
    return _code_view(dialect, values, None)


_DEVICE_EXISTS = select(Device.device_id).where(
    Device.device_id == bindparam("device_id"), Device.workspace_id == bindparam("workspace_id")
)


def device_exists(conn: Connection, workspace_id: str, device_id: str) -> bool:
    """Whether the workspace has this device: asked only when a read found nothing, to
    tell "no such device" from "nothing on it"."""
    found = conn.execute(_DEVICE_EXISTS, {"device_id": device_id, "workspace_id": workspace_id})
    return found.first() is not None


def device_row_view(dialect: Dialect, row: Row[Any]) -> dict[str, Any]:
    """The wire view of a row of :data:`DEVICES`."""
    # Parsed from the kept JSON: the caller's own copy, nested dicts and lists included.
    return orjson.loads(_kept_device_view(dialect, tuple(row)))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=_KEPT_VIEWS)
def _kept_device_view(dialect: Dialect, values: tuple[Any, ...]) -> bytes:
    return orjson.dumps(device_view(DEVICES.parsed(dialect, values)))
