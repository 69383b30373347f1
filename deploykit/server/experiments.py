"""Canary routing and shadow scoring on one worker.

Every worker reads the running experiments with the aliases (``ModelHost.poll``) and
keeps a :class:`Split` per model whose candidate it has loaded and warmed; with no
split, production answers everything, as before.

Canary: a request goes to the candidate when its draw is below ``percent / 100``.
The draw is a hash of the sticky key (the ``X-Deploykit-Key`` header, else the
experiment's ``sticky`` input column, first row) salted with the experiment id, so
one caller sees one version on every worker and replica; with no key it is a fresh
random number. Either way each worker honours the same share, independently.

Shadow: after production's answer is sent, :class:`ShadowScorer` gets the parsed
request on a bounded queue (full: dropped and counted, never waited on) and a thread
of its own scores it with the candidate. Its prediction is logged under the same
request id, without the inputs (production's row holds them); both versions' model
times go to telemetry under ``<model>@shadow``
(:func:`deploykit.monitoring.telemetry.shadow_key`), so comparing them is like for like.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.errors import DeployKitError
from deploykit.monitoring.telemetry import shadow_key
from deploykit.server.prometheus import _label

if TYPE_CHECKING:
    from deploykit.records import Experiment
    from deploykit.server.models import LoadedModel
    from deploykit.server.payloads import Parsed
    from deploykit.server.predlog import PredictionLog
    from deploykit.server.telemetry import Telemetry

__all__ = ["KEY_HEADER", "ShadowScorer", "Split", "draw", "prometheus_lines"]

log = logging.getLogger("deploykit.server")

KEY_HEADER = b"x-deploykit-key"
_BATCH = 256  # queued shadow requests scored in one predict call
_GATHER_SECONDS = 0.05  # pause after a partial batch: at most 20 wake-ups a second
_SCALE = float(1 << 64)


def draw(key: bytes | None, salt: bytes) -> float:
    """A number in [0, 1): a hash of ``key`` (same key, same number) or a random draw."""
    if not key:
        return random.random()
    digest = hashlib.blake2b(key, digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class Split:
    """A running experiment as this worker applies it."""

    experiment: Experiment
    candidate: LoadedModel

    @property
    def kind(self) -> str:
        return self.experiment.kind

    @property
    def share(self) -> float:
        return self.experiment.percent / 100.0

    @property
    def salt(self) -> bytes:
        return f"deploykit-experiment-{self.experiment.id}".encode()

    def key(self, header: bytes | None, parsed: Parsed, columns: Sequence[str] | None) -> bytes:
        """The sticky key of a request: the header, else the sticky column's first value."""
        if header:
            return header
        column = self.experiment.sticky
        if column is None:
            return b""
        value = _first_value(parsed, column, columns)
        return b"" if value is None else str(value).encode()

    def picks_candidate(self, key: bytes) -> bool:
        return draw(key, self.salt) < self.share


def _first_value(parsed: Parsed, column: str, columns: Sequence[str] | None) -> Any:
    """The value of ``column`` in the body's first row (None if it has none)."""
    try:
        if parsed.shape == "records":
            first = parsed.data[0] if parsed.data else None
            return first.get(column) if isinstance(first, dict) else None
        if parsed.shape == "columns":
            values = parsed.data.get(column)
            return values[0] if isinstance(values, list) and values else values
        names = parsed.columns or (list(columns) if columns else None)
        if not names or column not in names or not parsed.data:
            return None
        return parsed.data[0][names.index(column)]
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class _Job:
    split: Split
    parsed: Parsed
    request_id: str
    production: int
    production_seconds: float


class ShadowScorer:
    """Scores shadowed requests with the candidate, off the request path."""

    def __init__(
        self, predlog: PredictionLog, telemetry: Telemetry, *, queue_size: int = 1024
    ) -> None:
        self.predlog = predlog
        self.telemetry = telemetry
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self.dropped: Counter[str] = Counter()  # by model: queue was full
        self.scored: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def submit(
        self,
        split: Split,
        parsed: Parsed,
        request_id: str,
        production: int,
        production_seconds: float,
    ) -> bool:
        """Queue one request for the candidate; False (and counted) if the queue is full."""
        self._start()
        try:
            self._queue.put_nowait(_Job(split, parsed, request_id, production, production_seconds))
        except queue.Full:
            self.dropped[split.experiment.model] += 1
            return False
        return True

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="deploykit-shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=1.0)
            self._thread.join(timeout=5)
            self._thread = None

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued request is scored (tests, and before a flush)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            jobs = [first]
            # what waits besides is scored in the same call: one predict per batch, not
            # per request, is what keeps a shadow's CPU (and production's p99) small
            while len(jobs) < _BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                live = [j for j in jobs if j is not None]
                by_split: dict[int, list[_Job]] = {}
                for job in live:
                    by_split.setdefault(id(job.split), []).append(job)
                for group in by_split.values():
                    try:
                        self._score(group)
                    except Exception:  # a shadow's failure must never reach production
                        log.exception("shadow scoring failed")
            finally:
                for _ in jobs:
                    self._queue.task_done()
            if any(j is None for j in jobs):
                return
            if len(jobs) < _BATCH:
                # let requests gather: a wake-up per request would take the interpreter
                # from the request path hundreds of times a second for one row each
                time.sleep(_GATHER_SECONDS)

    def _score(self, jobs: list[_Job]) -> None:
        split = jobs[0].split
        model, candidate = split.experiment.model, split.candidate
        key = shadow_key(model)
        start = time.perf_counter()
        inputs: list[tuple[_Job, Any, int]] = []
        for job in jobs:
            try:
                data, rows = candidate.to_input(job.parsed)
            except DeployKitError:  # the candidate refused what production took
                self.failed[model] += 1
                self.telemetry.record(key, candidate.version, 422, 0.0, job.parsed.nrows)
                self.telemetry.record(key, job.production, 200, job.production_seconds, 0)
                continue
            inputs.append((job, data, rows))
        if not inputs:
            return
        predictions = self._predict(candidate, [x for _, x, _ in inputs], model, key)
        seconds = time.perf_counter() - start
        total = sum(rows for _, _, rows in inputs) or 1
        offset = 0
        for job, _, rows in inputs:
            share = seconds * rows / total  # the batch's time, split by rows
            if predictions is None:
                self.telemetry.record(key, candidate.version, 500, share, rows)
            else:
                self.telemetry.record(key, candidate.version, 200, share, rows)
                self.scored[model] += 1
                if self.predlog.enabled:
                    self.predlog.add(  # no inputs: they are production's, same request id
                        job.request_id,
                        model,
                        candidate.version,
                        None,
                        predictions[offset : offset + rows],
                    )
            self.telemetry.record(key, job.production, 200, job.production_seconds, rows)
            offset += rows

    def _predict(
        self, candidate: LoadedModel, parts: list[Any], model: str, key: str
    ) -> np.ndarray | None:
        """The candidate's predictions for every part, in one call when they stack."""
        try:
            if len(parts) == 1:
                batch = parts[0]
            elif all(isinstance(p, np.ndarray) for p in parts):
                batch = np.concatenate(parts)
            else:
                import pandas as pd

                batch = pd.concat(parts, ignore_index=True)
            predicted, _ = candidate.predict_sync(batch, False)
            return np.asarray(predicted)
        except Exception as exc:
            self.failed[model] += len(parts)
            log.warning("shadow %s:%d failed: %s", model, candidate.version, exc)
            return None


def prometheus_lines(splits: dict[str, Split], shadow: ShadowScorer) -> str:
    """This worker's experiments for ``/metrics``: each split's share and version, and
    shadow requests scored, failed and dropped (queue full) since the worker started."""
    lines = [
        "# HELP deploykit_experiment_percent Share of requests a running experiment's "
        "candidate answers (canary) or also scores (shadow), by model, kind and version.",
        "# TYPE deploykit_experiment_percent gauge",
    ]
    for name, split in sorted(splits.items()):
        e = split.experiment
        lines.append(
            f'deploykit_experiment_percent{{model="{_label(name)}",kind="{e.kind}",'
            f'version="{e.candidate}",production="{e.production}"}} {e.percent:g}'
        )
    for metric, counts, what in (
        ("scored", shadow.scored, "Shadow requests the candidate scored"),
        ("failed", shadow.failed, "Shadow requests the candidate failed on"),
        ("dropped", shadow.dropped, "Shadow requests dropped: the queue was full"),
    ):
        lines.append(f"# HELP deploykit_shadow_{metric}_total {what}, on this worker.")
        lines.append(f"# TYPE deploykit_shadow_{metric}_total counter")
        for name, count in sorted(counts.items()):
            lines.append(f'deploykit_shadow_{metric}_total{{model="{_label(name)}"}} {count}')
    return "\n".join(lines) + "\n"
