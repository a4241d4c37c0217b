"""Several HTTP API processes behind one ``pinwarden serve`` (``--processes N``).

One Python process answers on one core. With ``N`` above 1, ``serve`` binds its port once
and hands the socket to ``N`` API processes started by uvicorn's own supervisor
(:class:`uvicorn.supervisors.Multiprocess`: spawned children that all accept on the same
socket, restarted when one dies). The process that ran ``serve`` keeps the background
loops (the engine: reconcile worker, discovery, lock reports; and the webhook deliverer),
so they run exactly once and never compete with requests for a core's interpreter. API
writes reach them through the wake-ups of store/notify.py: NOTIFY on PostgreSQL,
datagrams on SQLite.

What a process keeps in memory and how it holds across processes:

- Per-device write limits (api/ratelimit.py), replay guards, API keys (revocation
  included) and console sessions live in the database or in the request itself: shared.
- The guard against bad API keys (api/bruteforce.py) counts per process: each API process
  gets ``ceil(limit / N)``, so together they allow about ``limit`` (a burst on a single
  connection, which stays on one process, is refused after ``limit / N``).
- ``last_used_at`` of a key is written at most once a minute per key and process.
- ``/metrics`` sums every process (metrics.py, multiprocess mode). ``/ready`` checks the
  database and schema from the API process that answers, not the worker's heartbeat,
  which only the supervising process sees (as with ``serve --no-worker``).
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import replace
from functools import partial
from socket import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from pinwarden.config import Settings
from pinwarden.metrics import share_between_processes
from pinwarden.service import Service

log = logging.getLogger(__name__)

# A child imports the app and opens the database before it serves; on a loaded machine
# that can take a while.
STARTUP_SECONDS = 120.0
# prctl(2): the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def api_settings(settings: Settings, processes: int) -> Settings:
    """The settings of one of ``processes`` API processes: no background loop, and its
    share of the bad-key guard."""
    limit = settings.auth_failure_limit
    return replace(
        settings,
        run_worker=False,
        auth_failure_limit=math.ceil(limit / processes) if limit else 0,
    )


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies without stopping it (Linux):
    no API process outlives its server, and the port is free again at once, for a
    restart on it. (A stopped server stops its API processes gracefully first.)"""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("cannot follow the server's end: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:  # it died before the request was made
        raise SystemExit(0)


def api_app(settings: Settings, parent: int) -> FastAPI:
    """The HTTP app of one API process (uvicorn calls this in each child of ``parent``)."""
    _die_with(parent)
    try:
        return Service(settings).app
    except Exception:
        # A child that cannot start would fail the same way on every restart: say so
        # with uvicorn's exit code, and the supervisor stops instead of looping.
        log.exception("the API process could not start")
        raise SystemExit(STARTUP_FAILURE) from None


@contextmanager
def shared_metrics(enabled: bool) -> Iterator[None]:
    """Keep metrics in a temporary directory that every process of this server writes
    to, for as long as the block runs (before the first Service is made)."""
    with ExitStack() as stack:
        if enabled:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="pinwarden-"))
            share_between_processes(directory)
        yield


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, which says once when every API process serves, and
    remembers the signal that stopped it."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket], started: Callable[[], None]
    ) -> None:
        super().__init__(config, sockets)
        self._started = started
        self.stopped_by: signal.Signals | None = None

    def handle_int(self) -> None:
        self.stopped_by = signal.SIGINT
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by = signal.SIGTERM
        super().handle_term()

    def init_processes(self) -> None:
        super().init_processes()
        if all(p.wait_until_ready(STARTUP_SECONDS, self.should_exit) for p in self.processes):
            self._started()


def serve_processes(
    service: Service, sock: socket, processes: int, started: Callable[[], None]
) -> signal.Signals | None:
    """Serve ``service``'s API from ``processes`` child processes on ``sock`` and run its
    background loops here, until SIGINT or SIGTERM; ``started`` is called once every
    child serves. Returns the signal that stopped the server."""
    settings = service.settings
    config = uvicorn.Config(
        partial(api_app, api_settings(settings, processes), os.getpid()),
        factory=True,
        workers=processes,
        log_level="warning",
    )
    supervisor = _Supervisor(config, [sock], started)
    try:
        with service.background() if settings.run_worker else nullcontext():
            supervisor.run()
    finally:
        service.db.dispose()
    return supervisor.stopped_by


def end_by(signum: signal.Signals | None) -> None:
    """End this process by ``signum`` (if any), as a single uvicorn server does once it
    has shut down, so that whoever started ``serve`` sees the same exit status."""
    if signum is not None:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
