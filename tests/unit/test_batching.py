"""The batcher: calls made while a batch runs share the next one; a failing batch is
run again item by item so only the bad item fails."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pinwarden.batching import Batcher, Outcome


def test_calls_made_meanwhile_share_a_batch() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def run(items: list[int]) -> list[Outcome[int]]:
        batches.append(items)
        if len(batches) == 1:
            release.wait(5)  # hold the first batch while the others queue
        return [(item * 10, None) for item in items]

    batcher: Batcher[int, int] = Batcher(run, max_batch=3, name="test")

    async def main() -> list[int]:
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [0, 10, 20, 30, 40, 50]
    assert batches == [[0], [1, 2, 3], [4, 5]]


def test_a_failing_batch_fails_only_its_bad_item() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[Outcome[int]]:
        calls.append(items)
        if 2 in items:
            raise ValueError("bad item")
        return [(item, None) for item in items]

    batcher: Batcher[int, int] = Batcher(run, max_batch=10, name="test")

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(batcher.submit(n) for n in range(4)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == 0
    assert results[3] == 3
    assert results[1] == 1 and isinstance(results[2], ValueError)
    assert [2] in calls and [1] in calls  # each item went again on its own


def test_an_exception_given_for_an_item_is_raised_to_its_caller() -> None:
    def run(items: list[int]) -> list[Outcome[int]]:
        return [(None, KeyError(item)) if item else (0, None) for item in items]

    batcher: Batcher[int, int] = Batcher(run, max_batch=10, name="test")

    async def main() -> None:
        assert await batcher.submit(0) == 0
        with pytest.raises(KeyError):
            await batcher.submit(1)

    asyncio.run(main())


def test_a_new_event_loop_gets_a_working_queue() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: [(i, None) for i in items], 10, "test")
    assert asyncio.run(batcher.submit(1)) == 1
    assert asyncio.run(batcher.submit(2)) == 2
