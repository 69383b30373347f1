"""Adaptive micro-batching: concurrent requests for one version share a predict call.

A scikit-learn ``predict`` has a large fixed cost per call (a random forest
spends ~5 ms on one row and ~9 ms on a hundred), so merging the rows of
concurrent requests multiplies throughput. The rules:

- a request that finds the model idle is predicted at once: a lone request never waits;
- requests that arrive while a call runs queue up and go together in the next call,
  up to ``max_rows`` rows;
- when the previous call carried *k* requests, the next one waits at most
  ``max_wait`` for *k* to be queued (a closed-loop client sends its next request
  only once answered, so the stragglers of a burst are ~0.1 ms behind);
- a merged call that fails is retried request by request, so one bad request
  cannot fail its neighbours.

Cheap models (a linear model predicts a row in ~0.1 ms) skip all this and run
inline on the event loop: a thread hop would cost more than the predict. Cheap per row
is not cheap per request, though: a compiled forest answers 1 row in ~10 µs and 100 rows
in ~0.7-1.5 ms. So an inline model keeps the durations of its recent calls by size (rows,
in powers of two) and runs a call whose size took ``offload_ms`` or more every one of
the last few times in a worker thread instead (every time: a process descheduled on a
busy machine makes a call look long once, not eight times in a row): the event loop
reads and checks the next requests meanwhile (onnxruntime releases the GIL), and small
requests stay inline. Such calls get ``threads`` worker threads: one worker process
alone on two cores runs two forests' calls at once (a hop costs ~30-50 µs, a 100-row
forest call 20x that).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MicroBatcher", "PredictFn"]

#: calls of one size an inline model must have taken too long for, in a row, to go off-loop
_SEEN = 8

#: (inputs, with_proba) -> (predictions, probabilities or None)
PredictFn = Callable[[Any, bool], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass
class _Item:
    data: Any
    rows: int
    proba: bool
    seq: int
    future: asyncio.Future[tuple[np.ndarray, np.ndarray | None]]


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if type(parts[0]).__name__ == "DataFrame":  # pandas only where a model takes frames
        import pandas as pd

        return pd.concat(parts, ignore_index=True, copy=False)
    return np.concatenate(parts)


class MicroBatcher:
    """Runs ``fn`` for one model version, inline or batched in one worker thread."""

    def __init__(
        self,
        fn: PredictFn,
        *,
        inline: bool,
        max_rows: int = 256,
        max_wait: float = 0.002,
        name: str = "model",
        inline_max_ms: float = 1.0,
        offload_ms: float | None = None,
        threads: int = 1,
    ) -> None:
        """``offload_ms``: an inline model's calls of a size that took this long (eight
        times running) go to a worker thread (default: ``inline_max_ms``); ``threads``:
        how many such calls may run at once (a batched model runs one call at a time)."""
        self._fn = fn
        self.inline = inline
        self._offload = (inline_max_ms if offload_ms is None else offload_ms) / 1000.0
        self._threads = max(1, threads) if inline else 1
        # inline mode: seconds the last calls of 2**(k-1) to 2**k - 1 rows took (k: the key)
        self._cost: dict[int, deque[float]] = {}
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._queues: dict[bool, deque[_Item]] = {False: deque(), True: deque()}
        self._running = False
        self._expect = 1  # requests the previous call carried
        self._enough: asyncio.Event | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._name = name
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self.calls = 0
        self.batched_requests = 0

    async def predict(self, data: Any, rows: int, proba: bool) -> tuple[np.ndarray, Any]:
        """Predictions (and probabilities when ``proba``) for ``data`` of ``rows`` rows."""
        if self.inline:
            self.calls += 1
            self.batched_requests += 1
            size = rows.bit_length()
            recent = self._cost.get(size)
            if recent is None or len(recent) < _SEEN or min(recent) < self._offload:
                start = time.perf_counter()
                result = self._fn(data, proba)
                self._learn(size, time.perf_counter() - start)
                return result
            return await self._off_loop(data, proba, size)
        loop = asyncio.get_running_loop()
        self._seq += 1
        item = _Item(data, rows, proba, self._seq, loop.create_future())
        self._queues[proba].append(item)
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())  # referenced: not garbage collected
        elif self._enough is not None and self._queued() >= self._expect:
            self._enough.set()
        return await item.future

    def _learn(self, size: int, seconds: float) -> None:
        recent = self._cost.get(size)
        if recent is None:
            recent = self._cost[size] = deque(maxlen=_SEEN)
        recent.append(seconds)

    async def _off_loop(self, data: Any, proba: bool, size: int) -> tuple[np.ndarray, Any]:
        """An inline model's call that has lately been too long for the event loop."""

        def timed() -> tuple[np.ndarray, Any]:
            start = time.perf_counter()
            try:
                return self._fn(data, proba)
            finally:  # learnt even on failure: a bad input costs the loop as much
                self._learn(size, time.perf_counter() - start)

        return await asyncio.get_running_loop().run_in_executor(self._worker(), timed)

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self._threads, thread_name_prefix=f"predict-{self._name}"
            )
        return self._executor

    def _queued(self) -> int:
        return len(self._queues[False]) + len(self._queues[True])

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        self._worker()
        try:
            while self._queued():
                if self._max_wait > 0 and self._queued() < min(self._expect, self._max_rows):
                    self._enough = asyncio.Event()
                    try:
                        await asyncio.wait_for(self._enough.wait(), self._max_wait)
                    except asyncio.TimeoutError:
                        pass
                    finally:
                        self._enough = None
                batch = self._take()
                self._expect = len(batch)
                await self._run(loop, batch)
        finally:
            self._running = False

    def _take(self) -> list[_Item]:
        # the older of the two queues goes first; each call is all-proba or all-plain
        plain, proba = self._queues[False], self._queues[True]
        queue = plain if plain and (not proba or plain[0].seq < proba[0].seq) else proba
        batch = [queue.popleft()]
        rows = batch[0].rows
        while queue and rows + queue[0].rows <= self._max_rows:
            item = queue.popleft()
            rows += item.rows
            batch.append(item)
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        self.calls += 1
        self.batched_requests += len(batch)
        proba = batch[0].proba
        try:
            data = _concat([item.data for item in batch])
            preds, probas = await loop.run_in_executor(self._executor, self._fn, data, proba)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc=exc)
                return
            for item in batch:  # isolate the culprit: one call each
                try:
                    result = await loop.run_in_executor(self._executor, self._fn, item.data, proba)
                except Exception as item_exc:
                    _settle(item, exc=item_exc)
                else:
                    _settle(item, result=result)
            return
        start = 0
        for item in batch:
            end = start + item.rows
            _settle(item, result=(preds[start:end], None if probas is None else probas[start:end]))
            start = end

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _settle(
    item: _Item,
    *,
    result: tuple[np.ndarray, Any] | None = None,
    exc: BaseException | None = None,
) -> None:
    if item.future.done():  # the client went away
        return
    if exc is not None:
        item.future.set_exception(exc)
    else:
        item.future.set_result(result)  # type: ignore[arg-type]
