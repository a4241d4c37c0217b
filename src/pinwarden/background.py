"""Background loops (the reconcile worker, the webhook deliverer): wake-ups and idleness.

Each loop runs on its own thread with its own event loop, so neither the API nor the other
loop ever waits for it. Any thread may :meth:`Signal.wake` a loop; tests use
:meth:`Signal.wait_idle` to know that everything due at the current (fake) time is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pinwarden.clock import Clock

log = logging.getLogger(__name__)

# Never spin: even when something looks due but could not be taken, pause a little.
MIN_PAUSE_SECONDS = 0.05


def pause_until(clock: Clock, next_due: datetime | None, idle_poll: timedelta) -> float:
    """Real seconds a loop may sleep before ``next_due`` (None: nothing is due), capped
    at ``idle_poll`` so that work added by processes that could not wake it is noticed."""
    cap = idle_poll.total_seconds()
    wait = None if next_due is None else clock.real_seconds_until(next_due)
    return cap if wait is None else min(wait, cap)


class Signal:
    """Thread-safe "look again now" flag plus an idle indicator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._idle = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def wake(self) -> None:
        """Ask the loop to look for work now."""
        with self._lock:
            self._requests += 1
            self._idle.clear()
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            # The loop may have just stopped; then there is nothing left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the loop found nothing left to do since the last wake."""
        if not self._idle.wait(timeout):
            raise TimeoutError("the background loop did not become idle in time")

    def attach(self) -> asyncio.Event:
        """Bind to the running event loop; returns the event that wakes it."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._event = asyncio.Event()
            return self._event

    def detach(self) -> None:
        """Forget the event loop (it is stopping)."""
        with self._lock:
            self._loop = None
            self._event = None

    def requests(self) -> int:
        """A counter that changes with every wake; compare before and after a pass."""
        with self._lock:
            return self._requests

    def mark_idle_if_unchanged(self, seen: int) -> None:
        """Declare idleness unless a wake arrived since ``seen`` was read."""
        with self._lock:
            if self._requests == seen:
                self._idle.set()

    async def sleep(self, event: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
        """Wait for a wake, a stop, or ``seconds``, whichever comes first."""
        stop_task = asyncio.ensure_future(stop.wait())
        wake_task = asyncio.ensure_future(event.wait())
        await asyncio.wait(
            {stop_task, wake_task}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        stop_task.cancel()
        wake_task.cancel()


async def run_loop(
    signal: Signal,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[float | None]],
    busy: Callable[[], bool] = lambda: False,
    name: str = "background loop",
) -> None:
    """Call ``step`` until ``stop`` is set. ``step`` returns None when it found work (go
    again at once) or how many seconds to wait for the next; a wake cuts the wait short.
    The loop counts as idle when a step found nothing and ``busy()`` is false."""
    wake_event = signal.attach()
    try:
        while not stop.is_set():
            seen = signal.requests()
            wake_event.clear()
            try:
                pause = await step()
            except Exception:
                log.exception("%s pass failed", name)
                pause = 1.0
            if pause is None:
                continue
            if not busy():
                signal.mark_idle_if_unchanged(seen)
            await signal.sleep(wake_event, stop, max(pause, MIN_PAUSE_SECONDS))
    finally:
        signal.detach()


def run_in_thread(
    name: str, main: Callable[[asyncio.Event], Awaitable[None]]
) -> tuple[threading.Thread, threading.Event]:
    """Run ``main(stop)`` on a new thread with its own event loop; set the returned event
    to stop it."""
    stop_flag = threading.Event()

    def _thread() -> None:
        async def _runner() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=lambda: (stop_flag.wait(), loop.call_soon_threadsafe(stop.set)),
                daemon=True,
            ).start()
            await main(stop)

        asyncio.run(_runner())

    thread = threading.Thread(target=_thread, name=name, daemon=True)
    thread.start()
    return thread, stop_flag
