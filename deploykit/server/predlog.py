"""Prediction logging: what came in, what went out, which version answered.

The predict path only appends a reference to its (already validated) input and
output arrays to a list; a background thread turns what accumulated into one
Parquet file per model version every few seconds, under the artifact store. The
format (paths, columns, atomic writes) and its readers belong to monitoring
(:mod:`deploykit.monitoring.logs`); this module buffers and builds the tables.

Sampling (``rate``) is per request. Memory is bounded in input cells (rows x
columns), not rows, so a 500-feature model is held to the same bytes as a 20-feature
one: a flush starts early once ``_FLUSH_CELLS`` wait (100-row requests at 2,500/s
would otherwise hold 1.2 million rows, ~200 MB, for 5 s), and past
``_MAX_PENDING_CELLS`` new records are dropped (counted, and said in the log once a
minute) rather than letting memory grow: logging must never slow or stop
predictions. On a saturated 2-core machine the writer gets a small share of the
interpreter, so at ~250k logged rows/s some are dropped; a lower ``rate`` keeps a
sample instead.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit._worker import Worker
from deploykit.server.memory import release_free_memory

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (and pandas, for models that take frames) load at the first flush: an idle
# worker serving compiled models holds neither (see deploykit.compile).

__all__ = ["PredictionLog"]

log = logging.getLogger("deploykit.server")

_FLUSH_CELLS = 4_000_000  # pending input cells (~32 MB of float64) that start a flush early
_MAX_PENDING_CELLS = 10_000_000  # beyond this (~80 MB), new records are dropped


@dataclass(slots=True)  # not frozen: a frozen dataclass takes ~2 µs more to build, per request
class _Record:
    request_id: str | np.ndarray  # one id, or one per row
    at: float
    model: str
    version: int
    columns: tuple[str, ...] | None
    data: Any  # ndarray or DataFrame, as predicted
    predictions: np.ndarray
    probabilities: np.ndarray | None = None  # when the caller asked for them
    classes: tuple[Any, ...] | None = None


class PredictionLog:
    """Buffers prediction records and writes them to Parquet in a background thread."""

    def __init__(
        self,
        artifacts_url: str,
        *,
        rate: float = 1.0,
        flush_seconds: float = 5.0,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.rate = rate
        self._artifacts_url = artifacts_url
        self._storage_options = storage_options
        self._flush_seconds = flush_seconds
        self._pending: list[_Record] = []
        self._pending_cells = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._due = threading.Event()  # set when enough rows wait: flush now
        self._warned_at = 0.0
        self._worker = Worker("deploykit-predlog", self._loop, join_seconds=30, wake=self._due)
        self._seq = itertools.count(1)
        self._tag = f"{socket.gethostname()}-{os.getpid()}"
        self.dropped = 0
        self.written_rows = 0
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def add(
        self,
        request_id: str | np.ndarray,
        model: str,
        version: int,
        data: Any,
        predictions: np.ndarray,
        columns: tuple[str, ...] | None = None,
        probabilities: np.ndarray | None = None,
        classes: tuple[Any, ...] | None = None,
        *,
        sample: bool = True,
    ) -> bool:
        """Queue one request's rows (sampled); O(1), never blocks on I/O. True if queued.

        ``probabilities`` (rows x classes, in the order of ``classes``) are logged as
        ``probability.<class>`` columns; rows predicted without them hold nulls there.
        ``request_id`` may also be one id per row (a batch of requests in one record,
        as the shadow scorer logs them, already sampled: ``sample=False``).
        """
        if sample and self.rate < 1.0 and random.random() >= self.rate:
            return False
        rows = len(predictions)
        shape = getattr(data, "shape", (rows, 1))
        cells = rows * (int(shape[1]) if len(shape) > 1 else 1)
        if self._pending_cells + cells > _MAX_PENDING_CELLS:
            self.dropped += rows
            self._due.set()
            return False
        record = _Record(
            request_id,
            time.time(),
            model,
            version,
            columns,
            data,
            predictions,
            probabilities,
            classes,
        )
        with self._lock:
            self._pending.append(record)
            self._pending_cells += cells
        if self._pending_cells >= _FLUSH_CELLS:
            self._due.set()
        return True

    def start(self) -> None:
        if self.enabled:
            self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        self.flush()

    def _loop(self) -> None:
        while not self._worker.stopping.is_set():
            self._due.wait(self._flush_seconds)
            self._due.clear()
            if self._worker.stopping.is_set():
                break
            if self.flush():
                import pyarrow as pa

                # The batch's buffers go back to the OS instead of staying resident: Arrow's
                # allocator (mimalloc) and glibc both keep freed memory for reuse by default.
                pa.default_memory_pool().release_unused()
                release_free_memory()
            self._report_drops()

    def _report_drops(self) -> None:
        if self.dropped and time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning(
                "prediction log: %d rows dropped so far (the writer fell behind); "
                "lower log_sample_rate to log a sample instead",
                self.dropped,
            )

    def flush(self) -> int:
        """Write everything queued; the number of rows written."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
                self._pending_cells = 0
            if not pending:
                return 0
            groups: dict[tuple[str, int], list[_Record]] = {}
            for record in pending:
                groups.setdefault((record.model, record.version), []).append(record)
            written = 0
            for (model, version), records in groups.items():
                try:
                    written += self._write(model, version, records)
                except Exception:  # a failed write loses log rows, never predictions
                    self.failures += 1
                    log.exception("prediction log write failed for %s:%s", model, version)
            self.written_rows += written
            return written

    def _write(self, model: str, version: int, records: list[_Record]) -> int:
        from deploykit.monitoring.logs import write_log_file

        table = _table(version, records)
        write_log_file(
            self._artifacts_url,
            model,
            table,
            at=datetime.fromtimestamp(records[0].at, tz=timezone.utc),
            tag=f"{self._tag}-{next(self._seq)}",
            storage_options=self._storage_options,
        )
        return table.num_rows


def _table(version: int, records: list[_Record]) -> pa.Table:
    import pyarrow as pa

    from deploykit.monitoring.logs import COLUMNS, INPUT

    counts = np.fromiter((len(r.predictions) for r in records), dtype=np.int64, count=len(records))
    n = int(counts.sum())
    ids = _request_ids(records, counts)
    at = np.repeat(np.array([r.at for r in records]), counts)
    timestamps = _arrow((at * 1e6).astype("int64")).cast(pa.timestamp("us", tz="UTC"))
    predictions = np.concatenate([np.asarray(r.predictions) for r in records])
    values = (ids, timestamps, _arrow(np.full(n, version, dtype=np.int64)), _arrow(predictions))
    columns: dict[str, Any] = dict(zip(COLUMNS, values, strict=True))
    columns.update(_probability_columns(records, counts, n))
    if any(r.data is None for r in records):
        records = _inputs_filled(records)
        if records[0].data is None:  # none has inputs (a shadow's rows): no input columns
            return pa.table(columns)
    first = records[0].data
    if type(first).__name__ == "DataFrame":
        import pandas as pd

        frame = pd.concat([r.data for r in records], ignore_index=True, copy=False)
        for name in frame.columns:
            columns[f"{INPUT}{name}"] = _arrow(frame[name])
    else:
        matrix = np.concatenate(
            [np.asarray(r.data).reshape(len(r.predictions), -1) for r in records]
        )
        names = records[0].columns or tuple(str(i) for i in range(matrix.shape[1]))
        for i, name in enumerate(names):
            columns[f"{INPUT}{name}"] = _arrow(matrix[:, i])
    return pa.table(columns)


def _request_ids(records: list[_Record], counts: np.ndarray) -> pa.Array:
    """Each row's request id: a record's one id repeated, or its ids (one per row)."""
    if all(type(r.request_id) is str for r in records):
        return _repeated([str(r.request_id) for r in records], counts)
    return _arrow(
        np.concatenate(
            [
                np.asarray(r.request_id, dtype=object)
                if type(r.request_id) is not str
                else np.full(len(r.predictions), r.request_id, dtype=object)
                for r in records
            ]
        )
    )


def _repeated(texts: list[str], counts: np.ndarray) -> pa.Array:
    """A string array holding ``texts[i]`` ``counts[i]`` times, built from buffers: each id is
    encoded once, not once a row. Not ``pa.array(...).take``: ``pa.array`` imports pandas,
    which a worker serving compiled models never loads."""
    import pyarrow as pa

    encoded = [t.encode() for t in texts]
    sizes = np.repeat(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), counts)
    ends = np.cumsum(sizes)
    # Arrow strings have int32 offsets. Ids are at most 128 bytes (wire.request_id_from) and a
    # flush at most _MAX_PENDING_CELLS rows: 1.28 GB, under 2 GiB; say so if that ever changes
    if len(ends) and ends[-1] >= 2**31:
        raise ValueError(f"{ends[-1]} bytes of request ids in one flush: over Arrow's 2 GiB")
    offsets = np.zeros(len(sizes) + 1, dtype=np.int32)
    offsets[1:] = ends
    data = b"".join(e * int(c) for e, c in zip(encoded, counts.tolist(), strict=True))
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(sizes), buffers)


def _inputs_filled(records: list[_Record]) -> list[_Record]:
    """``records`` with missing inputs (``data`` None: a shadow's rows, whose inputs are
    production's under the same request id) as nulls shaped like the others' inputs."""
    import dataclasses

    template = next((r.data for r in records if r.data is not None), None)
    if template is None:
        return records
    filled = []
    for r in records:
        if r.data is None:
            rows = len(r.predictions)
            pd = sys.modules.get("pandas")  # a DataFrame came only if pandas is loaded
            if pd is not None and isinstance(template, pd.DataFrame):
                blank: Any = pd.DataFrame(np.nan, index=range(rows), columns=template.columns)
            else:
                width = np.asarray(template).reshape(len(template), -1).shape[1]
                blank = np.full((rows, width), np.nan)
            r = dataclasses.replace(
                r,
                data=blank,
                columns=next((x.columns for x in records if x.data is not None), None),
            )
        filled.append(r)
    return filled


def _probability_columns(records: list[_Record], counts: np.ndarray, n: int) -> dict[str, pa.Array]:
    """``probability.<class>`` columns, null for the rows predicted without them."""

    from deploykit.monitoring.logs import PROBABILITY

    with_proba = [r for r in records if r.probabilities is not None and r.classes]
    if not with_proba:
        return {}
    classes = with_proba[0].classes or ()
    matrix = np.full((n, len(classes)), np.nan)
    filled = np.zeros(n, dtype=bool)
    ends = np.cumsum(counts)
    for record, end, rows in zip(records, ends, counts, strict=True):
        if record.probabilities is not None and record.classes == classes:
            matrix[end - rows : end] = record.probabilities
            filled[end - rows : end] = True
    return {
        f"{PROBABILITY}{label}": _arrow(np.where(filled, matrix[:, i], np.nan))
        for i, label in enumerate(classes)
    }


def _arrow(values: Any) -> pa.Array:
    """An Arrow array (NaN and None as nulls) from a column of values."""
    import sys

    import pyarrow as pa

    if "pandas" not in sys.modules and isinstance(values, np.ndarray) and values.ndim == 1:
        # pa.array() imports pandas to ask whether its argument is a pandas object; a
        # worker serving compiled models has no pandas, so build the array from buffers
        return _from_buffers(values)

    if isinstance(values, np.ndarray) and values.dtype.kind == "O":
        values = values.tolist()  # object arrays go through pandas in pyarrow; lists do not
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: keep them readable
        return pa.array([None if v is None else str(v) for v in np.asarray(values, dtype=object)])


def _from_buffers(values: np.ndarray) -> pa.Array:
    """``pa.array(values, from_pandas=True)`` for a 1-D ndarray, without pandas."""
    import pyarrow as pa

    n = len(values)
    kind = values.dtype.kind
    if kind in "iu":
        data = np.ascontiguousarray(values, dtype=np.int64)
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(data)])
    if kind == "b":
        bits = np.packbits(values.astype(bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if kind == "f":
        data = np.ascontiguousarray(values, dtype=np.float64)
        valid = ~np.isnan(data)
        return pa.Array.from_buffers(pa.float64(), n, [_validity(valid), pa.py_buffer(data)])
    items = values.tolist()  # text (or anything else, as text)
    valid = np.array([v is not None and v == v for v in items], dtype=bool)
    encoded = [str(v).encode() if ok else b"" for v, ok in zip(items, valid, strict=True)]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buffers = [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), n, buffers)


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    import pyarrow as pa

    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
