"""The database handle: engine setup per backend and transaction scopes.

SQLite (the embedded default) runs in WAL mode; write transactions start with
``BEGIN IMMEDIATE`` and are serialized in-process, so a read that later writes can
never hit a lock upgrade failure. Across processes on one file (``serve --processes``,
a CLI command beside a server) they are serialized by an ``flock`` on a file next to the
database (``<file>-lock``): the kernel hands the lock over the moment it is released,
where SQLite's own busy handler would sleep and retry (up to 100 ms a round). The busy
timeout stays as the backstop for writers that are not pinwarden. PostgreSQL uses
ordinary transactions and row locks.
Single-statement reads (:meth:`Database.rows`) run outside any transaction: one
statement is consistent on its own, and BEGIN/ROLLBACK would double its cost.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

_WRITE_OPTION = "pinwarden_write"
_AUTOCOMMIT_OPTION = "pinwarden_autocommit"


def normalize_url(url: str) -> str:
    """Let users write ``postgresql://``; we always talk to it through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


_BACKENDS = ("sqlite", "postgresql")


def check_url(url: str) -> None:
    """Raise :class:`ValueError` unless ``url`` names a backend pinwarden runs on."""
    try:
        backend = make_url(normalize_url(url)).get_backend_name()
    except ArgumentError as exc:
        raise ValueError(
            "the database URL cannot be parsed; use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc
    if backend not in _BACKENDS:
        raise ValueError(
            f"unsupported database {backend!r} in the URL; use sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        )


def display_url(url: str) -> str:
    """``url`` without its password, fit for logs."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


class Database:
    """Owns the engine; hands out read and write sessions."""

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = self._create_engine()
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        # SQLite: our begin hook leaves BEGIN out (the sqlite3 module is in autocommit
        # already). PostgreSQL: the driver's autocommit, so no BEGIN/ROLLBACK round trips.
        self._rows_engine = self.engine.execution_options(
            **({_AUTOCOMMIT_OPTION: True} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT"})
        )
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self._sqlite_write_lock = threading.Lock()
        self._lock_path = _lock_file(self.url) if self.is_sqlite else None
        self._lock_fd: int | None = None
        self._commit_hooks: list[Callable[[dict[str, Any]], None]] = []
        # Per thread: how many write transactions it committed (see commits_in_thread).
        self._committed = threading.local()

    @property
    def display_url(self) -> str:
        """The database URL without its password, fit for logs."""
        return display_url(self.url)

    def on_commit(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Call ``hook(session.info)`` after every committed write transaction."""
        self._commit_hooks.append(hook)

    def before_commit(self, hook: Callable[[Session], None]) -> None:
        """Call ``hook(session)`` as every write transaction is about to commit; it may
        still execute statements, which commit (or roll back) with the transaction."""
        event.listen(self._write_sessions, "before_commit", hook)

    def _create_engine(self) -> Engine:
        # JSON columns are read on every API response; orjson parses them to the same
        # values several times faster than the json module.
        if not self.is_sqlite:
            return create_engine(
                self.url,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=True,
                json_deserializer=orjson.loads,
                # Statement parameters stay out of exception messages and logs.
                hide_parameters=True,
            )
        in_memory = ":memory:" in self.url or self.url in ("sqlite://", "sqlite:///")
        engine = create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if in_memory else None,
            json_deserializer=orjson.loads,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from the sqlite3 module so BEGIN is ours.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get(_AUTOCOMMIT_OPTION, False):
                return
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION) else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; closing it ends the transaction and keeps loaded objects."""
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def rows(self) -> Iterator[Connection]:
        """A Core connection for reads of one statement each, outside a transaction.

        Each statement sees one committed state; use :meth:`read` when several
        statements must agree with each other.
        """
        with self._rows_engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or not at all."""
        lock = self._sqlite_write_lock if self.is_sqlite else None
        if lock is not None:
            lock.acquire()
        try:
            with self._between_processes(), self._write_sessions() as session:
                with session.begin():
                    yield session
                info = dict(session.info)
            self._committed.count = self.commits_in_thread() + 1
        finally:
            if lock is not None:
                lock.release()
        for hook in self._commit_hooks:
            hook(info)

    def commits_in_thread(self) -> int:
        """How many write transactions the calling thread has committed here: a caller
        compares two counts to tell whether failed work left anything committed."""
        count: int = getattr(self._committed, "count", 0)
        return count

    @contextmanager
    def _between_processes(self) -> Iterator[None]:
        """Hold the file's write lock (SQLite files only; called under the thread lock)."""
        if self._lock_path is None:
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def dispose(self) -> None:
        """Close every pooled connection (and the write lock's file)."""
        self.engine.dispose()
        with self._sqlite_write_lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _lock_file(url: str) -> str | None:
    """The file whose ``flock`` serializes writers of the SQLite file at ``url``; None
    for an in-memory database (one process)."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return f"{path}-lock"


# The audit trail's flush listener applies to every session (store/audit.py).
import pinwarden.store.audit  # noqa: E402, F401
