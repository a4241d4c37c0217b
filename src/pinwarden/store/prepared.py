"""Prepared reads: a fixed SELECT compiled once per dialect and run on the driver's cursor.

SQLAlchemy's Core execution (cache key, execution context, result object, connection
events) costs about 30 µs a statement, where the statement itself (an indexed read of one
row on SQLite) takes 3 µs. The reads every request makes, such as the API-key check, go
through here: SQLAlchemy still writes the SQL and converts the values, through the
bind and result processors of the columns' own types, and errors come out as
SQLAlchemy's, with a lost connection invalidated as its own execution would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Unpack

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None


class _Compiled:
    """The statement for one dialect: its SQL, how to bind and how to read."""

    def __init__(self, statement: Select[Unpack[tuple[Any, ...]]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        # None: the driver takes named parameters (psycopg's %(name)s).
        self.positions: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        # A type's dialect_impl holds its processors for the dialect (with a TypeDecorator's
        # own step around the underlying type's).
        self.binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self.results: list[Processor] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        self.any_results = any(p is not None for p in self.results)

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        bound = {
            name: value
            if value is None or (process := self.binds.get(name)) is None
            # The bind processor of the parameter's type (a timestamp to SQLite's text).
            else process(value)
            for name, value in values.items()
        }
        if self.positions is None:
            return bound
        return tuple(bound[name] for name in self.positions)

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self.any_results:
            return tuple(raw)
        return tuple(
            value if value is None or process is None else process(value)
            for process, value in zip(self.results, raw, strict=True)
        )


class PreparedRead:
    """One SELECT whose bound parameters are the only thing that changes."""

    def __init__(self, statement: Select[Unpack[tuple[Any, ...]]]) -> None:
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(self._statement, dialect)
        return found

    def first(self, conn: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``values`` (every bound parameter by name), or None; on a
        :meth:`~pinwarden.store.db.Database.rows` connection (no transaction of its own)."""
        compiled = self._compiled(conn.dialect)
        parameters = compiled.parameters(values)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = dbapi_conn.cursor()
        error = conn.dialect.loaded_dbapi.Error
        try:
            cursor.execute(compiled.sql, parameters)
            raw = cursor.fetchone()
            cursor.close()
        except error as exc:
            if conn.dialect.is_disconnect(exc, dbapi_conn, cursor):
                conn.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql, parameters, exc, error, hide_parameters=True
            ) from exc
        return None if raw is None else compiled.row(raw)
