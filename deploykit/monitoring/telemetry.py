"""The servers' request telemetry as stored: buckets, latency histogram, and reading it back.

Servers collect and compact it (:mod:`deploykit.server.telemetry`) into
:data:`~deploykit.monitoring.tables.telemetry_counts` and ``telemetry_latency``;
this is the layout they share and the query side that ``Registry.metrics``, the
metrics route, the alert evaluator and the Prometheus output read through, so an
embedded registry reads the same figures as a server.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from deploykit.monitoring.tables import telemetry_counts, telemetry_latency

__all__ = [
    "ARCHIVE_BUCKET",
    "LATENCY_EDGES_MS",
    "NBUCKETS",
    "SUMMED",
    "Counts",
    "all_time",
    "count_sums",
    "latency_sums",
    "percentile",
    "read_buckets",
    "shadow_key",
    "summary",
    "window_totals",
]

# Upper bounds (ms) of the latency buckets: 0.05 ms to ~60 s in steps of x1.5, so a
# percentile read from them is within ~25% of the truth; the last bucket is +Inf.
LATENCY_EDGES_MS: tuple[float, ...] = tuple(round(0.05 * 1.5**i, 4) for i in range(35))
NBUCKETS = len(LATENCY_EDGES_MS) + 1
# Bucket start of the all-time row that buckets past the retention are folded into.
ARCHIVE_BUCKET = 0
# The columns of telemetry_counts that replicas add up.
SUMMED = ("requests", "errors_4xx", "errors_5xx", "rows", "latency_sum_ms")


@dataclass
class Counts:
    """Counters of one (model, version, time bucket)."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    rows: int = 0
    latency_sum_ms: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * NBUCKETS)

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


def count_sums(*where: Any) -> sa.Select[Any]:
    """telemetry_counts summed per (model, version), with ``n`` the buckets summed."""
    c = telemetry_counts
    return (
        sa.select(
            c.c.model,
            c.c.version,
            sa.func.count().label("n"),
            *(sa.func.sum(c.c[name]).label(name) for name in SUMMED),
        )
        .where(*where)
        .group_by(c.c.model, c.c.version)
    )


def latency_sums(*where: Any) -> sa.Select[Any]:
    """telemetry_latency summed per (model, version, le_index), as ``hits``."""
    lt = telemetry_latency
    return (
        sa.select(lt.c.model, lt.c.version, lt.c.le_index, sa.func.sum(lt.c.count).label("hits"))
        .where(*where)
        .group_by(lt.c.model, lt.c.version, lt.c.le_index)
    )


def read_buckets(
    conn: sa.Connection,
    *,
    model: str | None,
    since: int | None,
    until: int | None,
    version: int | None = None,
) -> dict[tuple[str, int, int], Counts]:
    """Counts per (model, version, bucket start) of the buckets starting in [since, until)."""

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
        if counts is not None and 0 <= r.le_index < NBUCKETS:
            counts.hist[r.le_index] += r.count
    return out


def all_time(conn: sa.Connection) -> dict[tuple[str, int], Counts]:
    """Totals per (model, version) over every bucket, summed by the database."""
    out: dict[tuple[str, int], Counts] = {}
    for r in conn.execute(count_sums()):
        out[(r.model, r.version)] = Counts(
            requests=int(r.requests),
            errors_4xx=int(r.errors_4xx),
            errors_5xx=int(r.errors_5xx),
            rows=int(r.rows),
            latency_sum_ms=float(r.latency_sum_ms),
        )
    for r in conn.execute(latency_sums()):
        counts = out.get((r.model, r.version))
        if counts is not None and 0 <= r.le_index < NBUCKETS:
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
        data = read_buckets(conn, model=model, since=start, until=upper, version=version)
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


def window_totals(
    engine: sa.Engine, model: str, *, since: int, version: int | None = None
) -> Counts:
    """The counts of ``model`` (one ``version``, or all) summed over buckets from ``since``."""
    with engine.connect() as connection:
        data = read_buckets(connection, model=model, since=since, until=None, version=version)
    total = Counts()
    for counts in data.values():
        total.add(counts)
    return total


def shadow_key(name: str) -> str:
    """The telemetry key of shadow scoring: never a model name (``@`` is not allowed)."""
    return f"{name}@shadow"
