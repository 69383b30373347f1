"""Reading telemetry back: a model's totals and series, a window's totals, all-time sums.

Collection and compaction are :mod:`deploykit.server.telemetry`; this is the query side
that the metrics route, the alert evaluator and the Prometheus output read through.
"""

from __future__ import annotations

import math
import time
from typing import Any

import sqlalchemy as sa

from deploykit.server.tables import telemetry_counts, telemetry_latency
from deploykit.server.telemetry import (
    NBUCKETS,
    Counts,
    count_sums,
    latency_sums,
    percentile,
)

__all__ = ["all_time", "read_buckets", "summary", "window_totals"]


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
