"""Shared fixtures: a database per backend (SQLite always, PostgreSQL when one answers),
and a real pinwarden HTTP server on a fake clock, driven through the official SDK."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from seam import Seam
from sqlalchemy import create_engine, text
from starlette.types import ASGIApp

from pinwarden.clock import FakeClock
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store import migrate
from pinwarden.store.tables import Base
from tests.lost_responses import LoseResponses
from tests.zwave_stack import zwave_stack  # noqa: F401 (a session fixture, see its module)

# Every process the tests start, in-process or not, seals with this key (no key file in
# the working tree); tests of the key file set their own.
TEST_SECRET_KEY = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0"
os.environ.setdefault("PINWARDEN_SECRET_KEY", TEST_SECRET_KEY)
# A `serve` the tests start runs one API process: two cost each start two more imports of
# the app on a 2-core machine. The first-run tests and tests/process/test_api_processes.py
# run the default and several processes.
os.environ.setdefault("PINWARDEN_API_PROCESSES", "1")
# Where the environment forbids writing bytecode (this CI's does), every `pinwarden`
# process a test starts would compile pinwarden's modules again: about 0.3 s each, over
# a couple of hundred CLI and server processes per run.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

PG_URL = os.environ.get(
    "PINWARDEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Before the seed documents' dates (2025-01-01 …), so their examples work verbatim.
START = datetime(2024, 12, 31, 12, 0, tzinfo=UTC)


# Tests that share one expensive session resource run on one xdist worker, so a run
# starts one Z-Wave mock stack and one browser, not one per worker; every other test goes
# to whichever worker is free. The scheduler sees only node ids, so the groups go by where
# the tests live, and collection checks that every test of those fixtures is in its group.
_SHARED_FIXTURES = {"zwave_stack": "zwave-stack", "browser": "browser"}
# Each worker holds its own PostgreSQL connections and server threads: more than this
# would crowd a default PostgreSQL (100 connections) for little gain.
MAX_WORKERS = 4


def shared_group(nodeid: str) -> str | None:
    """The shared session resource the test ``nodeid`` runs on, if any."""
    if nodeid.startswith("tests/zwave/"):
        return "zwave-stack"
    if nodeid.startswith("tests/drivers/") and "[zwave-js" in nodeid:
        return "zwave-stack"  # the contract suite's zwave-js leg
    if nodeid.startswith("tests/console/"):
        return "browser"
    return None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core this process may use, at most MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``--dist load`` (what ``-n`` implies): the tests of each shared group as one
    unit of work, each other test a unit of its own (largest units first)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedResources(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shared_group(nodeid) or nodeid

    return SharedResources(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses a shared session resource outside its group (it would
    start another one on some other worker)."""
    for item in items:
        for fixture, group in _SHARED_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()) and shared_group(item.nodeid) != group:
                raise pytest.UsageError(
                    f"{item.nodeid} uses {fixture} but is not in its group: see shared_group"
                )


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"no PostgreSQL server at {PG_URL} ({type(exc).__name__}); PostgreSQL leg skipped"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_schema_url() -> Iterator[str]:
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    schema = f"pw_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    migrate.upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "pinwarden.db"
        shutil.copy(_sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_pg_schema_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()
    return url


def make_settings(database_url: str) -> Settings:
    """Settings for a test service: no worker thread unless a server starts one."""
    return replace(
        Settings(),
        database_url=database_url,
        sandbox_latency=timedelta(seconds=1),
        run_worker=True,
    )


@dataclass
class Harness:
    """A running server with its fake clock."""

    service: Service
    clock: FakeClock
    endpoint: str
    # Armed by a test, it answers 503 for a request the server did apply (R52–R53).
    responses: LoseResponses

    def workspace(self, sandbox: bool = True) -> tuple[str, str]:
        return self.service.create_workspace("Test", sandbox=sandbox)

    def seam(self, api_key: str | None = None) -> Seam:
        """An official SDK client for a fresh sandbox workspace (or the given key)."""
        if api_key is None:
            _, api_key = self.workspace()
        return Seam(api_key=api_key, endpoint=self.endpoint)

    def settle(self) -> None:
        """Wait until the worker, then the deliverer, have done everything due now."""
        self.service.devices_idle.wait_idle(timeout=15)
        self.service.integrations.sandbox.wait_idle(timeout=15)
        self.service.device_events.wait_idle(timeout=15)
        self.service.worker.wait_idle(timeout=15)
        self.service.deliverer.wait_idle(timeout=15)

    def advance(self, delta: timedelta) -> None:
        """Let pending work finish, move the fake clock, and let the worker catch up."""
        self.settle()
        self.clock.advance(delta)
        self.settle()


class _Errors(logging.Handler):
    """Collects ERROR records, so background failures cannot pass unnoticed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _TestServer(uvicorn.Server):
    """uvicorn's server, stopping at once: uvicorn itself looks for ``should_exit`` every
    0.1 s and then waits a fixed 0.1 s for connections to close, which over hundreds of
    test servers adds up to more than a minute of the suite."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        """Ask the server to stop (from any thread)."""
        self.should_exit = True
        if self._loop is not None and self._exit is not None:
            self._loop.call_soon_threadsafe(self._exit.set)

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        await self.on_tick(0)  # the default headers, as uvicorn's first tick sets them
        if not self.should_exit:
            await self._exit.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's shutdown, less its fixed sleep: idle keep-alive connections close on
        # the next turns of the loop, and any still busy are waited for as uvicorn does.
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for _ in range(3):
            await asyncio.sleep(0)
        await self._wait_tasks_to_complete()
        await self.lifespan.shutdown()


@contextmanager
def http_server(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free port of 127.0.0.1; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    http = _TestServer(config)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    deadline = threading.Event()
    for _ in range(500):
        if http.started or not thread.is_alive():
            break
        deadline.wait(0.02)
    assert http.started, "server did not start"
    port = http.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.stop()
        thread.join(timeout=10)


@contextmanager
def no_logged_errors() -> Iterator[None]:
    """Fail the test if the service logged an error (a background pass that crashed)."""
    errors = _Errors()
    logging.getLogger("pinwarden").addHandler(errors)
    try:
        yield
    finally:
        logging.getLogger("pinwarden").removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []


@pytest.fixture
def server(database_url: str) -> Iterator[Harness]:
    """pinwarden over real HTTP on 127.0.0.1, with the worker running on a fake clock.

    The test fails if the service logged an error (a background pass that crashed)."""
    clock = FakeClock(START)
    service = Service(make_settings(database_url), clock)
    responses = LoseResponses(service.app)
    with no_logged_errors(), http_server(responses) as endpoint:
        yield Harness(service, clock, endpoint, responses)
