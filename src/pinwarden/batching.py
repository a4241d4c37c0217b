"""Calls that arrive while a batch is running wait and run together in the next batch.

Many passes in flight each make small database calls; on SQLite every write is
serialized, and a transaction's fixed cost (BEGIN, fence, flush, COMMIT) or a query's
(compile, round trip) outweighed the rows it touched. A :class:`Batcher` turns concurrent
``await batcher.submit(item)`` calls into one ``run(items)`` on a thread: the first call
starts a batch at once, and everything submitted meanwhile goes in the next one, so a lone
call waits for nothing and a busy worker shares each transaction among many passes. A
batch whose ``run`` raises is run again item by item, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item, beside R for the result
R = TypeVar("R")

# What ``run`` gives back for each item: its result, or the exception to raise for it.
Outcome = tuple[R | None, BaseException | None]


@dataclass
class _Queue(Generic[I, R]):
    loop: asyncio.AbstractEventLoop
    waiting: list[tuple[I, asyncio.Future[R]]] = field(default_factory=list)
    draining: asyncio.Task[None] | None = None


class Batcher(Generic[I, R]):
    """Runs ``run(items)`` on a thread for everything submitted while the last batch ran."""

    def __init__(
        self,
        run: Callable[[list[I]], Sequence[Outcome[R]]],
        max_batch: int,
        name: str,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._name = name
        self._queue: _Queue[I, R] | None = None

    async def submit(self, item: I) -> R:
        """``item``'s result from the batch it runs in (or the exception raised for it)."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        if queue is None or queue.loop is not loop:
            queue = self._queue = _Queue(loop)
        done: asyncio.Future[R] = loop.create_future()
        queue.waiting.append((item, done))
        if queue.draining is None:
            queue.draining = loop.create_task(self._drain(queue), name=self._name)
        return await done

    async def _drain(self, queue: _Queue[I, R]) -> None:
        batch: list[tuple[I, asyncio.Future[R]]] = []
        try:
            while queue.waiting:
                batch = [w for w in queue.waiting[: self._max_batch] if not w[1].cancelled()]
                del queue.waiting[: self._max_batch]
                if not batch:
                    continue
                outcomes = await asyncio.to_thread(self._isolated, [item for item, _ in batch])
                for (_item, done), (value, exc) in zip(batch, outcomes, strict=True):
                    if done.cancelled():
                        continue
                    if exc is None:
                        done.set_result(value)  # type: ignore[arg-type]
                    else:
                        done.set_exception(exc)
        except asyncio.CancelledError:
            # The loop is going away: nothing queued will run, so nobody may wait on it.
            for _item, done in [*batch, *queue.waiting]:
                done.cancel()
            queue.waiting.clear()
            raise
        finally:
            queue.draining = None

    def _isolated(self, items: list[I]) -> Sequence[Outcome[R]]:
        # A batch that raised (rolled back, if it wrote) goes again one item at a time, so
        # only the item at fault fails; ``run`` must be safe to repeat for that.
        try:
            return self._run(items)
        except Exception as exc:
            if len(items) == 1:
                return [(None, exc)]
            return [self._isolated([item])[0] for item in items]
