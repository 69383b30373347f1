"""Per model and version request telemetry: counts, errors, latency histograms.

The hot path (:meth:`Telemetry.record`) only bumps integers in memory. A
background thread flushes them every few seconds to the registry database as
*increments* of time-bucketed rows, so every worker and every host adds to the
same rows and a reader sees the fleet's totals. Percentiles come from a fixed
log-spaced latency histogram, which (unlike a list of samples) can be summed
across replicas. Old buckets are folded together (:func:`compact`). The rows, the
histogram and reading them back are monitoring's (:mod:`deploykit.monitoring.telemetry`):
an embedded registry reads what servers wrote. The Prometheus exposition is
:mod:`deploykit.server.prometheus`.
"""

from __future__ import annotations

import bisect
import functools
import logging
import random
import threading
import time
from typing import Any

import numpy as np
import sqlalchemy as sa

from deploykit._worker import Worker
from deploykit.monitoring.tables import telemetry_counts, telemetry_latency
from deploykit.monitoring.telemetry import (
    ARCHIVE_BUCKET,
    LATENCY_EDGES_MS,
    SUMMED,
    Counts,
    count_sums,
    latency_sums,
)

__all__ = ["Telemetry", "compact"]

log = logging.getLogger("deploykit.server")

_EDGES = np.asarray(LATENCY_EDGES_MS, dtype=np.float64)


class Telemetry:
    """In-memory counters flushed in the background to the registry database."""

    def __init__(
        self,
        engine: sa.Engine | None,
        *,
        bucket_seconds: int = 10,
        flush_seconds: float = 2.0,
        retention_seconds: float = 30 * 86400,
        compact_every_seconds: float = 3600.0,
    ) -> None:
        self._engine = engine
        self._width = bucket_seconds
        self._flush_seconds = flush_seconds
        self._retention = retention_seconds
        self._compact_every = compact_every_seconds
        # Replicas start together; spread their compactions over the first period.
        self._next_compaction = time.monotonic() + random.uniform(
            0, min(60.0, compact_every_seconds)
        )
        self._pending: dict[tuple[str, int, int], Counts] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._worker = Worker("deploykit-telemetry", self._loop, join_seconds=10)
        self.flush_failures = 0

    # ------------------------------------------------------------------ hot path
    def record(self, model: str, version: int, status: int, seconds: float, rows: int) -> None:
        """Count one predict request; ``version`` is 0 when none could be resolved."""
        now = time.time()
        key = (model, version, int(now // self._width) * self._width)
        ms = seconds * 1000.0
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                counts = self._pending[key] = Counts()
            counts.requests += 1
            counts.rows += rows
            counts.latency_sum_ms += ms
            counts.hist[bisect.bisect_left(LATENCY_EDGES_MS, ms)] += 1
            if status >= 500:
                counts.errors_5xx += 1
            elif status >= 400:
                counts.errors_4xx += 1

    def record_many(
        self, model: str, version: int, status: int, seconds: np.ndarray, rows: int
    ) -> None:
        """Count ``len(seconds)`` requests of ``rows`` rows in all, under one lock: a
        batch scored in one call (the shadow scorer) costs one update, not one each."""
        n = len(seconds)
        if not n:
            return
        now = time.time()
        key = (model, version, int(now // self._width) * self._width)
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        # bisect_left per value, as record() does
        buckets = np.bincount(np.searchsorted(_EDGES, ms, side="left"), minlength=len(_EDGES) + 1)
        filled = np.flatnonzero(buckets).tolist()
        total_ms = float(ms.sum())
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                counts = self._pending[key] = Counts()
            counts.requests += n
            counts.rows += rows
            counts.latency_sum_ms += total_ms
            hist = counts.hist
            for i in filled:
                hist[i] += int(buckets[i])
            if status >= 500:
                counts.errors_5xx += n
            elif status >= 400:
                counts.errors_4xx += n

    # ------------------------------------------------------------------ flushing
    def start(self) -> None:
        if self._engine is not None:
            self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        self.flush()

    def _loop(self) -> None:
        while not self._worker.stopping.wait(self._flush_seconds):
            self.flush()
            if self._retention > 0 and time.monotonic() >= self._next_compaction:
                self._next_compaction = time.monotonic() + self._compact_every
                self.compact()

    def compact(self, now: float | None = None) -> int:
        """Fold buckets older than the retention into the all-time rows; rows folded."""
        if self._engine is None or self._retention <= 0:
            return 0
        before = int((time.time() if now is None else now) - self._retention)
        try:
            return compact(self._engine, before=before)
        except Exception:  # retention is housekeeping: the next round tries again
            log.exception("telemetry compaction failed; retrying in %.0f s", self._compact_every)
            return 0

    def flush(self) -> None:
        """Add what was counted since the last flush to the database rows."""
        if self._engine is None:
            return
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                with self._engine.begin() as conn:
                    _add_increments(conn, pending, self._width)
            except Exception:  # a failed flush must never take the server down
                self.flush_failures += 1
                # The transaction rolled back whole: keep the counts for the next flush.
                with self._lock:
                    for key, counts in pending.items():
                        self._pending.setdefault(key, Counts()).add(counts)
                log.exception("telemetry flush failed; %d buckets kept for later", len(pending))


def compact(engine: sa.Engine, *, before: int, chunk_seconds: int = 86400) -> int:
    """Fold every bucket starting before ``before`` (epoch s) into its all-time row.

    A day of buckets at a time, each summed and deleted in one serialized write
    transaction: replicas compacting at once cannot count a bucket twice, a backlog of
    months never holds the registry's write lock for long, and all-time totals
    (``/metrics``) are unchanged. Returns how many bucket rows were folded.
    """
    from deploykit.registry.database import run_in_transaction

    c = telemetry_counts
    with engine.connect() as conn:
        oldest = conn.execute(
            sa.select(sa.func.min(c.c.bucket)).where(c.c.bucket > ARCHIVE_BUCKET)
        ).scalar()
    folded = 0
    start = oldest
    while start is not None and start < before:
        end = min(start + chunk_seconds, before)
        folded += run_in_transaction(engine, functools.partial(_fold, start=start, end=end))
        start = end
    return folded


def _fold(conn: sa.Connection, *, start: int, end: int) -> int:
    """Add the buckets in [start, end) to the all-time rows and delete them."""
    old = {
        t.name: sa.and_(t.c.bucket > ARCHIVE_BUCKET, t.c.bucket >= start, t.c.bucket < end)
        for t in (telemetry_counts, telemetry_latency)
    }
    sums = conn.execute(count_sums(old["telemetry_counts"])).all()
    if not sums:
        return 0
    count_rows = [
        {
            "model": r.model,
            "version": r.version,
            "bucket": ARCHIVE_BUCKET,
            "width": 0,
            **{name: getattr(r, name) for name in SUMMED},
        }
        for r in sums
    ]
    latency_rows = [
        {
            "model": r.model,
            "version": r.version,
            "bucket": ARCHIVE_BUCKET,
            "le_index": r.le_index,
            "count": r.hits,
        }
        for r in conn.execute(latency_sums(old["telemetry_latency"]))
    ]
    c, lt = telemetry_counts, telemetry_latency
    _upsert_add(conn, c, count_rows, keys=("model", "version", "bucket"), add=SUMMED)
    _upsert_add(
        conn, lt, latency_rows, keys=("model", "version", "bucket", "le_index"), add=("count",)
    )
    conn.execute(lt.delete().where(old[lt.name]))
    conn.execute(c.delete().where(old[c.name]))
    return int(sum(r.n for r in sums))


def _add_increments(
    conn: sa.Connection, pending: dict[tuple[str, int, int], Counts], width: int
) -> None:
    count_rows = []
    latency_rows = []
    for (model, version, bucket), c in pending.items():
        count_rows.append(
            {
                "model": model,
                "version": version,
                "bucket": bucket,
                "width": width,
                "requests": c.requests,
                "errors_4xx": c.errors_4xx,
                "errors_5xx": c.errors_5xx,
                "rows": c.rows,
                "latency_sum_ms": c.latency_sum_ms,
            }
        )
        for i, n in enumerate(c.hist):
            if n:
                latency_rows.append(
                    {
                        "model": model,
                        "version": version,
                        "bucket": bucket,
                        "le_index": i,
                        "count": n,
                    }
                )
    _upsert_add(
        conn,
        telemetry_counts,
        count_rows,
        keys=("model", "version", "bucket"),
        add=SUMMED,
    )
    _upsert_add(
        conn,
        telemetry_latency,
        latency_rows,
        keys=("model", "version", "bucket", "le_index"),
        add=("count",),
    )


def _upsert_add(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    add: tuple[str, ...],
) -> None:
    """INSERT rows, or add their ``add`` columns to the existing row with the same keys."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={c: table.c[c] + stmt.excluded[c] for c in add},
        )
        conn.execute(stmt, rows)
        return
    # Other databases: update, then insert what did not exist (one writer per row is
    # enough here: a lost race surfaces as an IntegrityError and the flush is retried).
    for row in rows:
        where = sa.and_(*(table.c[k] == row[k] for k in keys))
        values = {c: table.c[c] + row[c] for c in add}
        if conn.execute(table.update().where(where).values(values)).rowcount == 0:
            conn.execute(table.insert().values(row))
