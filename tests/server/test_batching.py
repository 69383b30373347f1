"""Micro-batching: concurrent requests share predict calls; a lone one never waits."""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest

from deploykit.errors import ConfigurationError, InvalidInputError
from deploykit.server.batching import MicroBatcher


def _slow_double(calls: list[int]):
    def fn(data: np.ndarray, proba: bool):
        calls.append(len(data))
        if (data < 0).any():
            raise InvalidInputError("negative")
        time.sleep(0.01)  # a costly model: a random forest spends ~5 ms per call
        return data[:, 0] * 2, (data if proba else None)

    return fn


def test_concurrent_requests_are_merged_and_split_back() -> None:
    calls: list[int] = []
    batcher = MicroBatcher(_slow_double(calls), inline=False, max_rows=64, max_wait=0.002)

    async def main() -> list:
        rows = [np.full((1 + i % 3, 1), float(i)) for i in range(30)]
        return await asyncio.gather(*(batcher.predict(r, len(r), False) for r in rows))

    results = asyncio.run(main())
    for i, (predictions, probabilities) in enumerate(results):
        assert predictions.tolist() == [2.0 * i] * (1 + i % 3)
        assert probabilities is None
    assert len(calls) < 10  # 30 requests, a handful of calls
    assert sum(calls) == sum(1 + i % 3 for i in range(30))
    batcher.close()


def test_a_lone_request_is_predicted_at_once() -> None:
    calls: list[int] = []
    batcher = MicroBatcher(_slow_double(calls), inline=False, max_wait=0.5)

    async def main() -> float:
        start = time.perf_counter()
        await batcher.predict(np.ones((1, 1)), 1, False)
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.1  # 10 ms of predict, not the 500 ms max wait
    batcher.close()


def test_one_bad_request_does_not_fail_its_batch_neighbours() -> None:
    calls: list[int] = []
    batcher = MicroBatcher(_slow_double(calls), inline=False)

    async def main() -> list:
        rows = [np.full((1, 1), -1.0 if i == 3 else float(i)) for i in range(8)]
        return await asyncio.gather(
            *(batcher.predict(r, 1, False) for r in rows), return_exceptions=True
        )

    results = asyncio.run(main())
    assert isinstance(results[3], InvalidInputError)
    assert [r[0].tolist() for i, r in enumerate(results) if i != 3] == [
        [2.0 * i] for i in range(8) if i != 3
    ]
    batcher.close()


def test_inline_mode_calls_the_model_directly() -> None:
    calls: list[int] = []
    batcher = MicroBatcher(_slow_double(calls), inline=True)
    predictions, _ = asyncio.run(batcher.predict(np.ones((2, 1)), 2, False))
    assert predictions.tolist() == [2.0, 2.0]
    with pytest.raises(InvalidInputError):
        asyncio.run(batcher.predict(-np.ones((1, 1)), 1, False))


def test_inline_mode_runs_calls_that_proved_long_off_the_event_loop() -> None:
    """A model cheap per row (inline) but slow on big requests: once a size has cost more
    than inline_max_ms eight times in a row, calls of that size run in the worker thread
    and the event loop answers small requests meanwhile; small calls stay on the loop."""
    import threading

    where: list[tuple[int, str]] = []

    def fn(data: np.ndarray, proba: bool):
        where.append((len(data), threading.current_thread().name))
        time.sleep(0.0004 * len(data))  # 1 row: 0.4 ms; 100 rows: 40 ms
        return data[:, 0] * 2, None

    batcher = MicroBatcher(fn, inline=True, inline_max_ms=5.0, name="forest")
    big, small = np.ones((100, 1)), np.ones((1, 1))

    async def main() -> list[str]:
        for _ in range(8):  # too long every time: learnt (once would be a hiccup)
            await batcher.predict(big, 100, False)
        order: list[str] = []

        async def call(data: np.ndarray, label: str) -> None:
            predictions, _ = await batcher.predict(data, len(data), False)
            assert predictions.tolist() == [2.0] * len(data)
            order.append(label)

        await asyncio.gather(call(big, "big"), call(small, "small"))
        return order

    order = asyncio.run(main())
    loop_thread = threading.main_thread().name
    assert where[:8] == [(100, loop_thread)] * 8  # the first big calls ran on the loop
    assert (100, loop_thread) not in where[8:]  # the next one in the worker thread
    assert any(n == 100 and name.startswith("predict-forest") for n, name in where[8:])
    assert (1, loop_thread) in where  # small calls stay inline
    assert order == ["small", "big"]  # the loop was free while the big call ran
    batcher.close()


def test_long_calls_of_an_inline_model_run_side_by_side_in_its_threads() -> None:
    """Two cores, one worker: two 100-row forest calls (the GIL released) run at once,
    each in its own thread; with one thread the second would wait for the first."""
    import threading

    meet = threading.Barrier(2, timeout=5)
    learning = [True]

    def fn(data: np.ndarray, proba: bool):
        time.sleep(0.002)  # 2 ms: over offload_ms
        if not learning[0]:
            meet.wait()  # BrokenBarrierError unless the other call runs meanwhile
        return data[:, 0], None

    batcher = MicroBatcher(fn, inline=True, inline_max_ms=5.0, offload_ms=1.0, threads=2)
    big = np.ones((100, 1))

    async def main() -> None:
        for _ in range(8):
            await batcher.predict(big, 100, False)
        learning[0] = False
        await asyncio.gather(*(batcher.predict(big, 100, False) for _ in range(2)))

    asyncio.run(main())
    batcher.close()


def test_a_worker_gets_the_cores_it_does_not_share() -> None:
    from deploykit.server import ServerConfig

    cpus = len(os.sched_getaffinity(0))
    assert ServerConfig(workers=1).threads_per_version == cpus
    assert ServerConfig(workers=cpus * 2).threads_per_version == 1
    assert ServerConfig(workers=1, predict_threads=3).threads_per_version == 3
    with pytest.raises(ConfigurationError, match="predict_threads"):
        ServerConfig(predict_threads=-1)


def test_one_slow_call_does_not_send_a_cheap_model_off_the_loop() -> None:
    """A worker descheduled mid-call on a busy machine: one long call, then cheap ones."""
    import threading

    where: list[str] = []
    slow = [True]

    def fn(data: np.ndarray, proba: bool):
        where.append(threading.current_thread().name)
        if slow.pop() if slow else False:
            time.sleep(0.02)
        return data[:, 0], None

    batcher = MicroBatcher(fn, inline=True, inline_max_ms=1.0)

    async def main() -> None:
        for _ in range(20):
            await batcher.predict(np.ones((1, 1)), 1, False)

    asyncio.run(main())
    assert set(where) == {threading.main_thread().name}
    batcher.close()
