"""Micro-batching: concurrent requests share predict calls; a lone one never waits."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from deploykit.errors import InvalidInputError
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
