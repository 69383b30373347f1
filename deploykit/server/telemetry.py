"""Per model and version request telemetry: counts, errors, latency histograms.

The hot path (:meth:`Telemetry.record`) only bumps integers in memory. A
background thread flushes them every few seconds to the registry database as
*increments* of time-bucketed rows, so every worker and every host adds to the
same rows and a reader sees the fleet's totals. Percentiles come from a fixed
log-spaced latency histogram, which (unlike a list of samples) can be summed
across replicas.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from deploykit.server.tables import telemetry_counts, telemetry_latency

__all__ = [
    "ARCHIVE_BUCKET",
    "LATENCY_EDGES_MS",
    "Counts",
    "Telemetry",
    "compact",
    "percentile",
    "prometheus_text",
    "summary",
]

log = logging.getLogger("deploykit.server")

# Upper bounds (ms) of the latency buckets: 0.05 ms to ~60 s in steps of x1.5, so a
# percentile read from them is within ~25% of the truth; the last bucket is +Inf.
LATENCY_EDGES_MS: tuple[float, ...] = tuple(round(0.05 * 1.5**i, 4) for i in range(35))
_NBUCKETS = len(LATENCY_EDGES_MS) + 1
# Bucket start of the all-time row that buckets past the retention are folded into.
ARCHIVE_BUCKET = 0
# The columns of telemetry_counts that replicas add up.
_SUMMED = ("requests", "errors_4xx", "errors_5xx", "rows", "latency_sum_ms")


@dataclass
class Counts:
    """Counters of one (model, version, time bucket)."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    rows: int = 0
    latency_sum_ms: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * _NBUCKETS)

    def add(self, other: Counts) -> None:
        self.requests += other.requests
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.rows += other.rows
        self.latency_sum_ms += other.latency_sum_ms
        for i, n in enumerate(other.hist):
            self.hist[i] += n


def percentile(hist: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in ms of a latency histogram, interpolated in its bucket."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lower = LATENCY_EDGES_MS[i - 1] if i > 0 else 0.0
            if i >= len(LATENCY_EDGES_MS):
                return LATENCY_EDGES_MS[-1]
            upper = LATENCY_EDGES_MS[i]
            return round(lower + (upper - lower) * (rank - seen) / n, 4)
        seen += n
    return LATENCY_EDGES_MS[-1]


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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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

    # ------------------------------------------------------------------ flushing
    def start(self) -> None:
        if self._engine is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="deploykit-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
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


def _count_sums(*where: Any) -> sa.Select[Any]:
    """telemetry_counts summed per (model, version), with ``n`` the buckets summed."""
    c = telemetry_counts
    return (
        sa.select(
            c.c.model,
            c.c.version,
            sa.func.count().label("n"),
            *(sa.func.sum(c.c[name]).label(name) for name in _SUMMED),
        )
        .where(*where)
        .group_by(c.c.model, c.c.version)
    )


def _latency_sums(*where: Any) -> sa.Select[Any]:
    """telemetry_latency summed per (model, version, le_index), as ``hits``."""
    lt = telemetry_latency
    return (
        sa.select(lt.c.model, lt.c.version, lt.c.le_index, sa.func.sum(lt.c.count).label("hits"))
        .where(*where)
        .group_by(lt.c.model, lt.c.version, lt.c.le_index)
    )


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
    sums = conn.execute(_count_sums(old["telemetry_counts"])).all()
    if not sums:
        return 0
    count_rows = [
        {
            "model": r.model,
            "version": r.version,
            "bucket": ARCHIVE_BUCKET,
            "width": 0,
            **{name: getattr(r, name) for name in _SUMMED},
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
        for r in conn.execute(_latency_sums(old["telemetry_latency"]))
    ]
    c, lt = telemetry_counts, telemetry_latency
    _upsert_add(conn, c, count_rows, keys=("model", "version", "bucket"), add=_SUMMED)
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
        add=_SUMMED,
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


# ---------------------------------------------------------------------- reading
def _read(
    conn: sa.Connection,
    *,
    model: str | None,
    since: int | None,
    until: int | None,
    version: int | None = None,
) -> dict[tuple[str, int, int], Counts]:
    def where(table: sa.Table) -> list[Any]:
        clauses = []
        if model is not None:
            clauses.append(table.c.model == model)
        if version is not None:
            clauses.append(table.c.version == version)
        if since is not None:
            clauses.append(table.c.bucket >= since)
        if until is not None:
            clauses.append(table.c.bucket < until)
        return clauses

    out: dict[tuple[str, int, int], Counts] = {}
    t = telemetry_counts
    for r in conn.execute(sa.select(t).where(*where(t))):
        out[(r.model, r.version, r.bucket)] = Counts(
            requests=r.requests,
            errors_4xx=r.errors_4xx,
            errors_5xx=r.errors_5xx,
            rows=r.rows,
            latency_sum_ms=r.latency_sum_ms,
        )
    lt = telemetry_latency
    for r in conn.execute(sa.select(lt).where(*where(lt))):
        counts = out.get((r.model, r.version, r.bucket))
        if counts is not None and 0 <= r.le_index < _NBUCKETS:
            counts.hist[r.le_index] += r.count
    return out


def _all_time(conn: sa.Connection) -> dict[tuple[str, int], Counts]:
    """Totals per (model, version) over every bucket, summed by the database."""
    out: dict[tuple[str, int], Counts] = {}
    for r in conn.execute(_count_sums()):
        out[(r.model, r.version)] = Counts(
            requests=int(r.requests),
            errors_4xx=int(r.errors_4xx),
            errors_5xx=int(r.errors_5xx),
            rows=int(r.rows),
            latency_sum_ms=float(r.latency_sum_ms),
        )
    for r in conn.execute(_latency_sums()):
        counts = out.get((r.model, r.version))
        if counts is not None and 0 <= r.le_index < _NBUCKETS:
            counts.hist[r.le_index] += int(r.hits)
    return out


def _figures(c: Counts, seconds: float | None) -> dict[str, Any]:
    return {
        "requests": c.requests,
        "errors_4xx": c.errors_4xx,
        "errors_5xx": c.errors_5xx,
        "rows": c.rows,
        # significant digits, not decimals: one request an hour is 0.000278/s, not 0
        "throughput_rps": float(f"{c.requests / seconds:.4g}") if seconds else None,
        "latency_mean_ms": round(c.latency_sum_ms / c.requests, 4) if c.requests else None,
        "latency_p50_ms": percentile(c.hist, 0.50),
        "latency_p95_ms": percentile(c.hist, 0.95),
        "latency_p99_ms": percentile(c.hist, 0.99),
    }


def summary(
    engine: sa.Engine,
    model: str,
    *,
    window_seconds: int = 3600,
    step_seconds: int | None = None,
    version: int | None = None,
    now: float | None = None,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """Totals per version and a time series for ``model`` over [since, until).

    ``since``/``until`` are epoch seconds; by default the last ``window_seconds``.
    Buckets are counted whole, by their start time.
    """
    now = time.time() if now is None else now
    last = until if until is not None else now
    first = since if since is not None else last - window_seconds
    span = max(round(last - first), 1)  # the period asked for, from the exact times
    # Buckets are kept while they start in [start, end): ``end`` rounded up, or a query in
    # the first second of a bucket would drop that bucket.
    start, end = int(first), math.ceil(last)
    with engine.connect() as conn:
        upper = end if until is not None else None
        data = _read(conn, model=model, since=start, until=upper, version=version)
    step = step_seconds or max(10, span // 60)
    per_version: dict[int, Counts] = {}
    series: dict[tuple[int, int], Counts] = {}
    for (_, ver, bucket), c in data.items():
        per_version.setdefault(ver, Counts()).add(c)
        series.setdefault((bucket // step * step, ver), Counts()).add(c)
    total = Counts()
    for c in per_version.values():
        total.add(c)
    return {
        "model": model,
        "window_seconds": span,
        "step_seconds": step,
        "since": start,
        "until": end,
        "total": _figures(total, span),
        "versions": {str(v): _figures(c, span) for v, c in sorted(per_version.items())},
        "series": [
            {"start": at, "version": ver, **_figures(c, step)}
            for (at, ver), c in sorted(series.items())
        ],
    }


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(engine: sa.Engine, served: Iterable[tuple[str, str, int]] = ()) -> str:
    """Prometheus exposition of the fleet's all-time totals, plus what this worker serves.

    The counters come from the shared database, so they are the same (and only grow)
    whichever worker a scrape reaches. ``served`` lists (model, alias, version).
    """
    with engine.connect() as conn:
        totals = _all_time(conn)
    lines = [
        "# HELP deploykit_requests_total Predict requests answered, by model, version and class.",
        "# TYPE deploykit_requests_total counter",
    ]
    for (model, ver), c in sorted(totals.items()):
        labels = f'model="{_label(model)}",version="{ver}"'
        ok = c.requests - c.errors_4xx - c.errors_5xx
        lines.append(f'deploykit_requests_total{{{labels},code="2xx"}} {ok}')
        lines.append(f'deploykit_requests_total{{{labels},code="4xx"}} {c.errors_4xx}')
        lines.append(f'deploykit_requests_total{{{labels},code="5xx"}} {c.errors_5xx}')
    lines += [
        "# HELP deploykit_prediction_rows_total Rows predicted, by model and version.",
        "# TYPE deploykit_prediction_rows_total counter",
    ]
    for (model, ver), c in sorted(totals.items()):
        lines.append(
            f'deploykit_prediction_rows_total{{model="{_label(model)}",version="{ver}"}} {c.rows}'
        )
    lines += [
        "# HELP deploykit_request_duration_seconds Predict latency inside the server.",
        "# TYPE deploykit_request_duration_seconds histogram",
    ]
    for (model, ver), c in sorted(totals.items()):
        labels = f'model="{_label(model)}",version="{ver}"'
        cumulative = 0
        for edge, n in zip(LATENCY_EDGES_MS, c.hist[:-1], strict=True):
            cumulative += n
            le = _fmt(round(edge / 1000.0, 9))  # 0.0002531, not 0.00025309999999999997
            lines.append(
                f'deploykit_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}'
            )
        lines.append(
            f'deploykit_request_duration_seconds_bucket{{{labels},le="+Inf"}} {c.requests}'
        )
        lines.append(
            f"deploykit_request_duration_seconds_sum{{{labels}}} {_fmt(c.latency_sum_ms / 1000)}"
        )
        lines.append(f"deploykit_request_duration_seconds_count{{{labels}}} {c.requests}")
    lines += [
        "# HELP deploykit_served_version The version this worker serves for a model's alias.",
        "# TYPE deploykit_served_version gauge",
    ]
    for model, alias, ver in sorted(served):
        lines.append(
            f'deploykit_served_version{{model="{_label(model)}",alias="{_label(alias)}"}} {ver}'
        )
    return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "+Inf"
