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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deploykit.errors import DeployKitError, InvalidInputError, SignatureError
from deploykit.records import ModelVersion
from deploykit.signature import Signature

__all__ = ["Progress", "ScoreResult", "score", "score_with"]

#: called with (rows done, rows in the file) after each chunk
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_ROWS = 65_536
ENGINES = ("chunked", "dask")
_PREFETCH = 1  # chunks decoded ahead of the one being predicted
# pyarrow pre-buffers (and keeps) the compressed bytes of every row group it reads by
# default: the whole file by the end. Streamed reads through a 1 MiB buffer keep memory flat
# (10 M rows: 133 MB peak instead of 585 MB just to read; bench/score).
_READ_OPTIONS: dict[str, Any] = {"pre_buffer": False, "buffer_size": 1 << 20}


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """What a scoring run did."""

    model: str
    version: int
    rows: int
    chunks: int
    seconds: float
    output: str
    columns: tuple[str, ...]
    runtime: str = "sklearn"  # "onnx": the compiled model scored (see deploykit.compile)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["columns"] = list(self.columns)
        data["rows_per_second"] = round(self.rows_per_second, 1)
        return data


def score(
    registry: Any,
    name: str,
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    ref: int | str = "production",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    proba: bool = False,
    keep: Sequence[str] | None = None,
    progress: Progress | None = None,
    storage_options: dict[str, Any] | None = None,
    engine: str = "chunked",
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
    result = score_with(
        model,
        record,
        source,
        destination,
        chunk_rows=chunk_rows,
        proba=proba,
        keep=keep,
        progress=progress,
        storage_options=storage_options,
        engine=engine,
    )
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
    with _open_input(source, options) as parquet:
        plan = _Plan.make(model, record, parquet.schema_arrow, keep, source)
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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Which columns to read, which feed the model, which are copied to the output."""

    model: Any
    record: ModelVersion
    signature: Signature | None
    features: list[str]
    keep: list[str]
    read: list[str]
    classes: list[Any] | None

    @classmethod
    def make(
        cls,
        model: Any,
        record: ModelVersion,
        schema: pa.Schema,
        keep: Sequence[str] | None,
        source: str,
    ) -> _Plan:
        present = list(schema.names)
        signature = Signature.from_dict(record.signature) if record.signature else None
        if signature is not None:
            features = signature.columns
        else:  # pushed without data: the model's own feature names, else every column
            names = getattr(model, "feature_names_in_", None)
            features = [str(n) for n in names] if names is not None else present
        missing = [c for c in features if c not in present]
        if missing:
            raise SignatureError(
                f"The input file '{source}' lacks column(s) {', '.join(map(repr, missing))} "
                f"that model {record.ref} needs. It has: {', '.join(map(repr, present))}.",
                problems=[f"missing column {c!r}" for c in missing],
            )
        kept = present if keep is None else list(keep)
        unknown = [c for c in kept if c not in present]
        if unknown:
            raise InvalidInputError(
                f"Cannot keep column(s) {', '.join(map(repr, unknown))}: the input file "
                f"'{source}' has no such column. It has: {', '.join(map(repr, present))}."
            )
        clash = [c for c in kept if c == "prediction" or c.startswith("proba_")]
        if clash:
            raise InvalidInputError(
                f"The input file '{source}' already has column(s) "
                f"{', '.join(map(repr, clash))}, which the output uses for the scores. "
                "Leave them out with keep=[...] (--keep on the command line)."
            )
        read = [c for c in present if c in set(features) | set(kept)]
        classes = getattr(model, "classes_", None)
        return cls(
            model,
            record,
            signature,
            features,
            kept,
            read,
            None if classes is None else list(np.asarray(classes).tolist()),
        )

    def empty(self, schema: pa.Schema, *, proba: bool) -> pa.RecordBatch:
        """The output of no rows: the kept columns, and scores typed as the model's."""
        output = (self.signature.output if self.signature is not None else {}) or {}
        try:
            kind = pa.from_numpy_dtype(np.dtype(output.get("dtype", "float64")))
        except (TypeError, pa.ArrowNotImplementedError):
            kind = pa.string()
        fields = [schema.field(c) for c in self.keep] + [pa.field("prediction", kind)]
        if proba:
            fields += [pa.field(f"proba_{c}", pa.float64()) for c in self.classes or []]
        return pa.RecordBatch.from_pylist([], schema=pa.schema(fields))

    def score(self, batch: pa.RecordBatch, *, proba: bool) -> pa.RecordBatch:
        frame = batch.select(self.features).to_pandas()
        if self.signature is not None:
            X: Any = self.signature.validate(frame)
        else:
            X = frame
        try:
            predictions = np.asarray(self.model.predict(X))
            probabilities = np.asarray(self.model.predict_proba(X)) if proba else None
        except DeployKitError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InvalidInputError(
                f"Model {self.record.ref} could not predict on this input: "
                f"{type(exc).__name__}: {first}"
            ) from None
        arrays = [batch.column(c) for c in self.keep]
        names = list(self.keep)
        arrays.append(_arrow(predictions))
        names.append("prediction")
        if probabilities is not None:
            labels = self.classes or list(range(probabilities.shape[1]))
            for i, label in enumerate(labels):
                arrays.append(pa.array(probabilities[:, i]))
                names.append(f"proba_{label}")
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _arrow(values: np.ndarray) -> pa.Array:
    if values.ndim > 1:  # multi-output models: one list per row
        return pa.array(values.tolist())
    if values.dtype == object:
        return pa.array(pd.Series(values), from_pandas=True)
    return pa.array(values)


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


@contextlib.contextmanager
def _open_input(source: str, options: dict[str, Any]) -> Iterator[pq.ParquetFile]:
    try:
        if "://" in source:
            import fsspec

            with fsspec.open(source, "rb", **options) as f:
                yield pq.ParquetFile(f, **_READ_OPTIONS)
            return
        with open(source, "rb") as f:
            yield pq.ParquetFile(f, **_READ_OPTIONS)
    except FileNotFoundError:
        raise InvalidInputError(
            f"The input file '{source}' does not exist. Pass the path of a Parquet file."
        ) from None
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(
            f"The input file '{source}' is not a readable Parquet file ({exc}). "
            "Convert it first, e.g. pandas.read_csv(...).to_parquet(...)."
        ) from None


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
