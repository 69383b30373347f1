"""Drift over a period and per time window, from one read of the prediction log.

Columns are converted once; rows are put in window order once (a stable argsort
of the window index), after which every window is a slice of every column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from deploykit.monitoring.drift import judge, multivariate, pca_reference, prepare
from deploykit.monitoring.options import DriftOptions
from deploykit.monitoring.periods import Period
from deploykit.monitoring.profile import ReferenceProfile
from deploykit.monitoring.results import DriftTimeline

__all__ = ["drift_timeline", "epoch_us"]


def epoch_us(table: pa.Table) -> np.ndarray:
    """The ``timestamp`` column as int64 microseconds since the epoch (UTC)."""
    column = table.column("timestamp")
    column = column.cast(pa.timestamp("us", tz="UTC"))
    return column.cast(pa.int64()).to_numpy(zero_copy_only=False)


def drift_timeline(
    profile: ReferenceProfile,
    table: pa.Table,
    period: Period,
    *,
    options: DriftOptions | None = None,
    **meta: Any,
) -> DriftTimeline:
    """Drift of the rows of ``table`` in ``period``, overall and per ``period.step``."""
    prepared = prepare(profile, table)
    reference = pca_reference(profile)
    edges = period.edges
    if edges:  # every column converted once, for the overall report and each window
        bounds = np.array([int(e.timestamp() * 1_000_000) for e in edges], dtype=np.int64)
        which = np.searchsorted(bounds, epoch_us(table), side="right") - 1
        order = np.argsort(which, kind="stable")
        prepared = prepared.reorder(order)
    rows, current, prediction = prepared.view()
    overall = judge(
        profile,
        current,
        prediction,
        rows=rows,
        options=options,
        since=period.since,
        until=period.until,
        multivariate=multivariate(reference, prepared),
        **meta,
    )
    if not edges:
        return DriftTimeline(overall)
    ordered = prepared
    starts = np.searchsorted(which[order], np.arange(len(edges)), side="left")
    windows = []
    for i in range(len(edges) - 1):
        rows_i = slice(int(starts[i]), int(starts[i + 1]))
        count, current, prediction = ordered.view(rows_i)
        report = judge(
            profile,
            current,
            prediction,
            rows=count,
            options=options,
            since=edges[i],
            until=edges[i + 1],
            multivariate=multivariate(reference, ordered, rows_i),
            **meta,
        )
        windows.append(report.summary())
    return DriftTimeline(overall, period.step, tuple(windows))
