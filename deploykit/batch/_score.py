"""Scoring a Parquet file in chunks: bounded memory, whatever the file's size.

The input is read one record batch at a time (``ParquetFile.iter_batches``: only
the columns needed, ``chunk_rows`` rows at a time), validated against the
version's signature, predicted, and appended to a ``ParquetWriter``, so memory
holds a chunk or two, never the file. A reader thread decodes the next chunk
while the model predicts this one (pyarrow and most estimators release the GIL).

The output is written under a temporary name beside the destination and renamed
when complete: a crash never leaves a truncated file that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import pyarrow as pa
import pyarrow.parquet as pq

from deploykit.batch._plan import Plan, ScoreResult, open_input
from deploykit.errors import InvalidInputError
from deploykit.records import ModelVersion

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["Progress", "ScoreOptions", "ScoreResult", "score", "score_with"]

#: called with (rows done, rows in the file) after each chunk
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_ROWS = 65_536
ENGINES = ("chunked", "dask")
_PREFETCH = 1  # chunks decoded ahead of the one being predicted


class ScoreOptions(TypedDict, total=False):
    """How to score, besides what and where: :func:`score` hands them to :func:`score_with`."""

    chunk_rows: int
    proba: bool
    keep: Sequence[str] | None
    progress: Progress | None
    storage_options: dict[str, Any] | None
    engine: str


def score(
    registry: Any,
    name: str,
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    ref: int | str = "production",
    **options: Unpack[ScoreOptions],
) -> ScoreResult:
    """Score ``source`` (Parquet) with version ``ref`` of ``name``; write ``destination``.

    ``registry`` is a :class:`deploykit.Registry` or a :class:`deploykit.Client`;
    ``ref`` a version number, ``"latest"`` or an alias. The output holds the ``keep``
    columns of the input (all of them by default, ``[]`` for none), then
    ``prediction``, then ``proba_<class>`` per class if ``proba``. Paths may be
    fsspec URLs (``s3://...``) with ``storage_options``. ``engine="dask"`` scores the
    partitions on Dask's active scheduler (a cluster, or local threads) and writes a
    folder of Parquet files; ``chunk_rows`` and ``progress`` apply to ``"chunked"``.
    """
    record = registry.version(name, ref)
    model = _model(registry, record)
    result = score_with(model, record, source, destination, **options)
    runtime = "onnx" if (record.runtime or {}).get("runtime") == "onnx" else "sklearn"
    return dataclasses.replace(result, runtime=runtime)


def _model(registry: Any, record: ModelVersion) -> Any:
    """The compiled model (ONNX Runtime) when the version has one, else the original
    (digest-checked before it is unpickled); compiled answers are those verified at push."""
    path = registry.compiled_path(record.model, record.version)
    if path is None:
        return registry.load(record.model, record.version)
    from deploykit.compile._record import RuntimeInfo
    from deploykit.compile._runtime import CompiledEstimator, CompiledModel

    compiled = CompiledModel(
        path.read_bytes(),
        RuntimeInfo.from_dict(record.runtime or {}),
        label=record.ref,
        picklable=True,  # Dask ships it to its workers
    )
    return CompiledEstimator(compiled, lambda: registry.load(record.model, record.version))


def score_with(
    model: Any,
    record: ModelVersion,
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    proba: bool = False,
    keep: Sequence[str] | None = None,
    progress: Progress | None = None,
    storage_options: dict[str, Any] | None = None,
    engine: str = "chunked",
) -> ScoreResult:
    """:func:`score` with a model already loaded (``record`` describes it)."""
    if engine not in ENGINES:
        raise InvalidInputError(
            f"The 'engine' parameter of score must be one of {', '.join(map(repr, ENGINES))}. "
            f"Got {engine!r} instead."
        )
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInputError(
            f"The 'chunk_rows' parameter of score must be an int >= 1. Got {chunk_rows!r} instead."
        )
    if proba and not callable(getattr(model, "predict_proba", None)):
        raise InvalidInputError(
            f"Model {record.ref} ({record.estimator}) has no predict_proba, so it cannot "
            "score with probabilities. Score without --proba."
        )
    start = time.perf_counter()
    options = storage_options or {}
    source, destination = os.fspath(source), os.fspath(destination)
    if engine == "dask":
        from deploykit.batch._dask import score_dask

        keep_list = None if keep is None else list(keep)
        result = score_dask(
            model, record, source, destination, proba=proba, keep=keep_list, storage_options=options
        )
        if progress is not None:
            progress(result.rows, result.rows)
        return result
    with open_input(source, options) as parquet:
        plan = Plan.make(model, record, parquet.schema_arrow, keep, source)
        total = parquet.metadata.num_rows
        done = chunks = 0
        with _Output(destination, options) as output:
            batches = parquet.iter_batches(batch_size=chunk_rows, columns=plan.read)
            for batch in _prefetched(batches):
                output.write(plan.score(batch, proba=proba))
                done += batch.num_rows
                chunks += 1
                if progress is not None:
                    progress(done, total)
            if chunks == 0:  # an empty input still gives a readable, empty output
                output.write(plan.empty(parquet.schema_arrow, proba=proba))
            columns = tuple(output.schema.names) if output.schema is not None else ()
    return ScoreResult(
        model=record.model,
        version=record.version,
        rows=done,
        chunks=chunks,
        seconds=time.perf_counter() - start,
        output=destination,
        columns=columns,
    )


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, decoded one ahead on a thread; errors re-raised in the caller."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=_PREFETCH)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                slots.put(batch)
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    reader = threading.Thread(target=read, name="deploykit-score-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # unblock a reader waiting on a full queue
                slots.get_nowait()
        reader.join(timeout=10)


class _Output:
    """A ParquetWriter on a temporary name, renamed onto ``destination`` when complete."""

    def __init__(self, destination: str, options: dict[str, Any]) -> None:
        self.destination = destination
        self.schema: pa.Schema | None = None
        self._remote = "://" in destination
        self._options = options
        self._writer: pq.ParquetWriter | None = None
        self._file: Any = None
        if self._remote:  # an object PUT appears whole: no temporary name needed
            self._tmp = destination
        else:
            folder = os.path.dirname(os.path.abspath(destination))
            if not os.path.isdir(folder):
                raise InvalidInputError(
                    f"Cannot write '{destination}': the folder '{folder}' does not exist."
                )
            base = os.path.basename(destination)
            self._tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.part")

    def __enter__(self) -> _Output:
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self.schema = batch.schema
            if self._remote:
                import fsspec

                self._file = fsspec.open(self._tmp, "wb", **self._options).open()
                sink: Any = self._file
            else:
                sink = self._tmp
            self._writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
        self._writer.write_batch(batch)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        if self._remote:
            return
        if exc_type is None:
            os.replace(self._tmp, self.destination)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
