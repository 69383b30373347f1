"""Canary routing and shadow scoring on one worker.

Every worker reads the running experiments with the aliases (``ModelHost.poll``) and
keeps a :class:`Split` per model whose candidate it has loaded and warmed; with no
split, production answers everything, as before.

Canary: a request goes to the candidate when its draw is below ``percent / 100``.
The draw is a hash of the sticky key (the ``X-Deploykit-Key`` header, else the
experiment's ``sticky`` input column, first row) salted with the experiment id, so
one caller sees one version on every worker and replica; with no key it is a fresh
random number. Either way each worker honours the same share, independently.

Shadow: after production's answer is sent, :class:`ShadowScorer` gets references to
the request (its parsed body and production's model input) on a bounded queue (full:
dropped and counted, never waited on); a thread of its own scores what gathered in one
predict call per batch. The candidate's predictions are logged under the same request
ids, without the inputs (production's rows hold them); both versions' model times go
to telemetry under ``<model>@shadow``
(:func:`deploykit.monitoring.telemetry.shadow_key`), so comparing them is like for like.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
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
_BATCH = 2048  # queued shadow requests scored in one predict call, at most
_QUEUE = 4096  # queued shadow requests, at most: beyond, a shadow request is dropped
_GATHER_SECONDS = 0.2  # pause after a partial batch: at most 5 wake-ups a second
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
    # per request, only read: worked out once here
    share: float = field(init=False, compare=False)
    salt: bytes = field(init=False, compare=False)
    # production version -> whether the candidate takes its model input as it is
    _reuses: dict[int, bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "share", self.experiment.percent / 100.0)
        object.__setattr__(self, "salt", f"deploykit-experiment-{self.experiment.id}".encode())
        object.__setattr__(self, "_reuses", {})

    def reuses(self, production: LoadedModel) -> bool:
        """Whether the candidate takes ``production``'s model input as it is (worked out
        once per production version): then a shadow request holds only that input."""
        known = self._reuses.get(production.version)
        if known is None:
            known = self._reuses[production.version] = _same_input(production, self.candidate)
        return known

    @property
    def kind(self) -> str:
        return self.experiment.kind

    def key(self, header: bytes | None, parsed: Parsed, columns: Sequence[str] | None) -> bytes:
        """The sticky key of a request: the header, else the sticky column's first value."""
        if header:
            return header
        column = self.experiment.sticky
        if column is None:
            return b""
        value = _first_value(parsed, column, columns)
        return b"" if value is None else str(value).encode()

    def route(
        self, header: bytes | None, parsed: Parsed, production: LoadedModel
    ) -> tuple[LoadedModel, str, Split | None]:
        """(the version that answers, "production" or "candidate", the split to mirror the
        request to or None) for one request of this experiment's model."""
        columns = production.spec.columns if production.spec is not None else None
        if not self.picks_candidate(self.key(header, parsed, columns)):
            return production, "production", None
        if self.kind == "canary":
            return self.candidate, "candidate", None
        return production, "production", self  # a shadow: production answers, it mirrors

    def picks_candidate(self, key: bytes) -> bool:
        share = self.share
        if share >= 1.0:  # a shadow of every request: no draw
            return True
        return draw(key, self.salt) < share


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


# A queued shadow request, as a plain tuple: the request path allocates nothing else.
# (split, production LoadedModel, parsed body (None when the candidate takes production's
#  model input), production's model input, rows,
#  request id, production's model seconds, whether production's row was logged)
_Job = tuple["Split", "LoadedModel", "Parsed | None", Any, int, str, float, bool]


class ShadowScorer:
    """Scores shadowed requests with the candidate, off the request path.

    Everything is per batch, not per request: the request path appends one tuple of
    references to a deque (no lock, no copy; a full queue drops and counts), and a
    thread of its own wakes at most 5 times a second, takes what gathered and, per
    experiment, makes one model input (production's inputs stacked when the candidate
    takes the same signature, as it does when it was pushed with the same data), one
    predict call, one prediction-log record and two telemetry updates.
    """

    def __init__(
        self, predlog: PredictionLog, telemetry: Telemetry, *, queue_size: int = _QUEUE
    ) -> None:
        self.predlog = predlog
        self.telemetry = telemetry
        self._pending: deque[_Job] = deque()
        self._size = queue_size
        self._wake = threading.Event()  # set by submit when the thread may be waiting
        self._stopping = threading.Event()
        self._busy = False  # a batch is taken and not yet scored
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.dropped: Counter[str] = Counter()  # by model: queue was full
        self.scored: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.cpu_seconds = 0.0  # this thread's CPU time scoring, all models
        self.batches = 0

    def submit(
        self,
        split: Split,
        production: LoadedModel,
        parsed: Parsed,
        data: Any,
        rows: int,
        request_id: str,
        production_seconds: float,
        logged: bool,
    ) -> bool:
        """Queue one request for the candidate; False (and counted) if the queue is full.

        ``data`` is production's model input for ``parsed`` (``rows`` rows) and
        ``logged`` whether production's row went to the prediction log: the shadow's
        row is logged only then, so every logged shadow prediction has its pair.
        """
        pending = self._pending
        if len(pending) >= self._size:
            self.dropped[split.experiment.model] += 1
            return False
        # the parsed body only when the candidate needs its own input: kept for the
        # gathering pause, its lists would be walked by the garbage collector meanwhile
        body = None if split.reuses(production) else parsed
        pending.append(
            (split, production, body, data, rows, request_id, production_seconds, logged)
        )
        if self._thread is None:
            self._start()
        if not self._wake.is_set():  # a plain read; a set() only when the thread may sleep
            self._wake.set()
        return True

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._stopping.clear()
                thread = threading.Thread(target=self._loop, name="deploykit-shadow", daemon=True)
                thread.start()
                self._thread = thread

    def stop(self) -> None:
        thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout=5)
            self._thread = None

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued request is scored (tests, and before a flush)."""
        deadline = time.monotonic() + timeout
        while (self._pending or self._busy) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _loop(self) -> None:
        pending, wake, stopping = self._pending, self._wake, self._stopping
        while True:
            if not pending:
                if stopping.is_set():  # what was queued before the stop is scored first
                    return
                wake.clear()
                if not pending and not stopping.is_set():
                    wake.wait()  # submit sets the event after its append: no lost wake-up
                continue
            self._busy = True
            cpu = time.thread_time()
            try:
                jobs = [pending.popleft() for _ in range(min(len(pending), _BATCH))]
                self._score_all(jobs)
            finally:
                self._busy = False
                self.cpu_seconds += time.thread_time() - cpu
            if len(jobs) < _BATCH and not stopping.is_set():
                # let requests gather: a wake-up per request would take the interpreter
                # from the request path thousands of times a second for one row each
                stopping.wait(_GATHER_SECONDS)

    def _score_all(self, jobs: list[_Job]) -> None:
        self.batches += 1
        columns = list(zip(*jobs, strict=True))  # per field, not per request: C loops
        if len(set(map(id, columns[0]))) == 1 and len(set(map(id, columns[1]))) == 1:
            groups = [columns]  # one experiment, one production version: the usual batch
        else:
            by: dict[tuple[int, int], list[_Job]] = {}
            for job in jobs:
                by.setdefault((id(job[0]), id(job[1])), []).append(job)
            groups = [list(zip(*group, strict=True)) for group in by.values()]
        for group in groups:
            try:
                self._score(group)
            except Exception:  # a shadow's failure must never reach production
                log.exception("shadow scoring failed")

    def _score(self, columns: list[tuple[Any, ...]]) -> None:
        """Score one experiment's requests; ``columns`` holds the jobs' fields, by field."""
        split, production = columns[0][0], columns[1][0]
        model, candidate = split.experiment.model, split.candidate
        key = shadow_key(model)
        start = time.perf_counter()
        if not split.reuses(production):
            columns = self._inputs(columns, candidate, key)
            if not columns[0]:
                return
        _, _, _, parts, counts, ids, production_seconds, logged = columns
        rows = np.array(counts, dtype=np.int64)
        total = int(rows.sum())
        predictions = self._predict(candidate, parts, model)
        seconds = time.perf_counter() - start
        # the batch's time, split by rows: each request's share of one predict call
        shares = rows * (seconds / (total or 1))
        status = 500 if predictions is None else 200
        telemetry = self.telemetry
        telemetry.record_many(key, candidate.version, status, shares, total)
        telemetry.record_many(
            key, production.version, 200, np.array(production_seconds, dtype=np.float64), total
        )
        if predictions is None:
            return
        self.scored[model] += len(ids)
        if self.predlog.enabled:
            self._log(ids, logged, rows, predictions, model, candidate.version)

    def _inputs(
        self, columns: list[tuple[Any, ...]], candidate: LoadedModel, key: str
    ) -> list[tuple[Any, ...]]:
        """Each request as the candidate takes it, when its signature differs from
        production's; the requests it refuses are counted and left out."""
        kept: list[_Job] = []
        for job in zip(*columns, strict=True):
            try:
                assert job[2] is not None  # kept whenever the candidate needs its own input
                data, rows = candidate.to_input(job[2])
            except DeployKitError:  # the candidate refused what production took
                model = job[0].experiment.model
                self.failed[model] += 1
                self.telemetry.record(key, candidate.version, 422, 0.0, job[4])
                self.telemetry.record(key, job[1].version, 200, job[6], 0)
                continue
            kept.append((*job[:3], data, rows, *job[5:]))
        return list(zip(*kept, strict=True)) if kept else [()] * len(columns)

    def _predict(self, candidate: LoadedModel, parts: tuple[Any, ...], model: str) -> Any:
        """The candidate's predictions for every part, in one call (None if it failed)."""
        try:
            if len(parts) == 1:
                batch = parts[0]
            elif set(map(type, parts)) == {np.ndarray}:
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

    def _log(
        self,
        request_ids: tuple[str, ...],
        logged: tuple[bool, ...],
        rows: np.ndarray,
        predictions: np.ndarray,
        model: str,
        version: int,
    ) -> None:
        """One prediction-log record for the batch: each row under its request's id, no
        inputs (they are production's, same request id); only production's logged rows."""
        ids = np.array(request_ids, dtype=object)
        if not all(logged):
            kept = np.array(logged, dtype=bool)
            ids, rows, predictions = ids[kept], rows[kept], predictions[np.repeat(kept, rows)]
            if not len(ids):
                return
        if len(predictions) != len(ids):
            ids = np.repeat(ids, rows)
        self.predlog.add(ids, model, version, None, predictions, sample=False)


def _same_input(production: LoadedModel, candidate: LoadedModel) -> bool:
    """Whether the candidate takes production's model input as it is: same signature
    (nulls allowed at least where production allows them) and same container (ndarray
    or DataFrame), as when both were pushed with one X."""
    if production.want_array != candidate.want_array:
        return False
    a, b = production.spec, candidate.spec
    if a is None or b is None:
        return a is b
    return a is b or b.takes_input_of(a)


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
