"""Prepared reads: a fixed SELECT compiled once per dialect and run on the driver's cursor.

SQLAlchemy's Core execution (cache key, execution context, result object, connection
events) costs about 30 µs a statement, where the statement itself (an indexed read of one
row on SQLite) takes 3 µs. The reads every request makes, such as the API-key check, go
through here: SQLAlchemy still writes the SQL and converts the values, through the
bind and result processors of the columns' own types, and errors come out as
SQLAlchemy's, with a lost connection invalidated as its own execution would.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None


class _Compiled:
    """The statement for one dialect: its SQL, how to bind and how to read."""

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            # SQLAlchemy rewrites these statements per execution (an IN list, a value
            # written into the SQL), so there is no one SQL text to keep.
            raise ValueError("a prepared read cannot take parameters rendered at run time")
        if compiled.escaped_bind_names:
            raise ValueError("a prepared read's parameter names must be plain identifiers")
        self.sql = compiled.string
        # None: the driver takes named parameters (psycopg's %(name)s).
        self.positions: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        # Values written into the statement itself (a LIMIT given as a number).
        self.defaults = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        # A type's dialect_impl holds its processors for the dialect (with a TypeDecorator's
        # own step around the underlying type's).
        self.binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self._dialect = dialect
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        # Worked out on the first run: some depend on the driver's type of the column.
        self.results: list[Processor] | None = None
        self.any_results = True
        # Rows read by name or by position, as SQLAlchemy's are.
        # Named as SQLAlchemy names them; a name a tuple cannot take fails here, at import.
        names = [column.key or "" for column in statement.selected_columns]
        row_type = namedtuple("Row", names)  # type: ignore[misc]
        self.make: Callable[[Iterable[Any]], Any] = row_type._make

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        # The bind processor of the parameter's type (a timestamp to SQLite's text), for
        # None too, as SQLAlchemy runs it (JSON's None is the text null).
        bound = {
            name: value if (process := self.binds.get(name)) is None else process(value)
            for name, value in {**self.defaults, **values}.items()
        }
        if self.positions is None:
            return bound
        return tuple(bound[name] for name in self.positions)

    def read_with(self, description: Any) -> None:
        """Take the result processors, given the cursor's description of the columns."""
        self.results = [
            type_.result_processor(self._dialect, column[1])
            for type_, column in zip(self._types, description, strict=True)
        ]
        self.any_results = any(p is not None for p in self.results)

    def row(self, raw: tuple[Any, ...]) -> Any:
        assert self.results is not None
        if not self.any_results:
            return self.make(raw)
        return self.make(
            value if value is None or process is None else process(value)
            for process, value in zip(self.results, raw, strict=True)
        )


class PreparedRead:
    """One SELECT whose bound parameters are the only thing that changes."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self._statement = statement
        self._by_dialect: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect)
        if found is None:
            found = self._by_dialect[dialect] = _Compiled(self._statement, dialect)
        return found

    def first(self, conn: Connection, values: dict[str, Any]) -> Any:
        """The first row for ``values`` (every bound parameter by name), or None; on a
        :meth:`~pinwarden.store.db.Database.rows` connection (no transaction of its own).
        A row is a named tuple of the selected columns."""
        rows = self._run(conn, values, many=False)
        return rows[0] if rows else None

    def all(self, conn: Connection, values: dict[str, Any]) -> list[Any]:
        """Every row for ``values``, as :meth:`first` reads them."""
        return self._run(conn, values, many=True)

    def _run(self, conn: Connection, values: dict[str, Any], many: bool) -> list[Any]:
        compiled = self._compiled(conn.dialect)
        parameters = compiled.parameters(values)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = dbapi_conn.cursor()
        error = conn.dialect.loaded_dbapi.Error
        try:
            cursor.execute(compiled.sql, parameters)
            if compiled.results is None:
                compiled.read_with(cursor.description)
            if many:
                found = cursor.fetchall()
            else:
                one = cursor.fetchone()
                found = [] if one is None else [one]
        except error as exc:
            lost = conn.dialect.is_disconnect(exc, dbapi_conn, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql,
                parameters,
                exc,
                error,
                hide_parameters=True,
                connection_invalidated=lost,
                dialect=conn.dialect,
            ) from exc
        finally:
            with suppress(error):  # a lost connection's cursor may not close
                cursor.close()
        return [compiled.row(raw) for raw in found]
