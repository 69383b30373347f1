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
request id; both versions' model times go to telemetry under ``<model>@shadow``
(:func:`deploykit.monitoring.compare.shadow_key`), so comparing them is like for like.
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
from deploykit.monitoring.compare import shadow_key

if TYPE_CHECKING:
    from deploykit.records import Experiment
    from deploykit.server.models import LoadedModel
    from deploykit.server.payloads import Parsed
    from deploykit.server.predlog import PredictionLog
    from deploykit.server.telemetry import Telemetry

__all__ = ["KEY_HEADER", "ShadowScorer", "Split", "draw"]

log = logging.getLogger("deploykit.server")

KEY_HEADER = b"x-deploykit-key"
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
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._score(job)
            except Exception:  # a shadow's failure must never reach production
                log.exception("shadow scoring failed")
            finally:
                self._queue.task_done()

    def _score(self, job: _Job) -> None:
        split, model = job.split, job.split.experiment.model
        candidate = split.candidate
        key = shadow_key(model)
        start = time.perf_counter()
        status, rows = 200, job.parsed.nrows
        try:
            data, rows = candidate.to_input(job.parsed)
            predictions, _ = candidate.predict_sync(data, False)
        except DeployKitError as exc:  # the candidate refused what production took
            status = 422 if getattr(exc, "status", 500) < 500 else 500
            self.failed[model] += 1
            self.telemetry.record(key, candidate.version, status, time.perf_counter() - start, rows)
            self.telemetry.record(key, job.production, 200, job.production_seconds, rows)
            return
        except Exception:
            self.failed[model] += 1
            self.telemetry.record(key, candidate.version, 500, time.perf_counter() - start, rows)
            self.telemetry.record(key, job.production, 200, job.production_seconds, rows)
            raise
        seconds = time.perf_counter() - start
        self.telemetry.record(key, candidate.version, status, seconds, rows)
        self.telemetry.record(key, job.production, 200, job.production_seconds, rows)
        self.scored[model] += 1
        if self.predlog.enabled:
            columns = candidate.spec.columns if candidate.spec is not None else None
            self.predlog.add(
                job.request_id,
                model,
                candidate.version,
                data,
                np.asarray(predictions),
                tuple(columns) if columns else None,
            )
