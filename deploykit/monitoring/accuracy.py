"""Live accuracy where feedback labels exist, beside the figure recorded at push.

Labels arrive later than predictions, by request id (``POST .../feedback``). They
are joined to the prediction log here: a scalar label labels every row of its
request, a list labels the request's rows in order (and must have their number).
Classifiers are scored by accuracy, regressors by mean absolute error, the two
figures every evaluation records (:mod:`deploykit.evaluation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deploykit.monitoring.results import Accuracy, AccuracyWindow

__all__ = ["accuracy", "label_rows"]

METRICS = {"classification": ("accuracy", True), "regression": ("mae", False)}


def label_rows(request_ids: Sequence[str] | np.ndarray, labels: Mapping[str, Any]) -> np.ndarray:
    """The label of each logged row (object array, None where no usable label came)."""
    ids = pd.Series(np.asarray(request_ids, dtype=object))
    found = ids.map(labels)  # NaN where no label
    out = np.full(len(ids), None, dtype=object)
    position = ids.groupby(ids, sort=False).cumcount().to_numpy()
    size = ids.map(ids.value_counts()).to_numpy()
    for i, label in enumerate(found.to_numpy()):
        if isinstance(label, (list, tuple)):
            if len(label) == size[i]:
                out[i] = label[position[i]]
        elif label is not None and not (isinstance(label, float) and np.isnan(label)):
            out[i] = label
    return out


def _scores(task: str, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per labelled row: 1/0 for a right/wrong class, or the absolute error (NaN if unusable)."""
    if task == "regression":
        pred = pd.to_numeric(pd.Series(predictions), errors="coerce").to_numpy(dtype=float)
        true = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float)
        return np.abs(pred - true)
    pred_num = pd.to_numeric(pd.Series(predictions), errors="coerce").to_numpy(dtype=float)
    true_num = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float)
    numeric = ~np.isnan(pred_num) & ~np.isnan(true_num)
    as_text = (
        pd.Series(predictions).astype(str).to_numpy() == pd.Series(labels).astype(str).to_numpy()
    )
    # 1 and "1" and 1.0 are one class; "gold" compares as text
    return np.where(numeric, pred_num == true_num, as_text).astype(float)


def accuracy(
    table: pa.Table | pd.DataFrame,
    labels: Mapping[str, Any],
    *,
    task: str,
    reference: float | None = None,
    edges: Sequence[datetime] | None = None,
) -> Accuracy:
    """Accuracy (or MAE) of the logged rows that have a label, overall and per window.

    ``table`` holds ``request_id``, ``timestamp`` and ``prediction``; ``edges`` are
    the window boundaries (n + 1 datetimes for n windows).
    """
    metric, greater = METRICS[task]
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    empty = Accuracy(metric, greater, reference, 0, None, _windows(edges, None, None))
    if not len(frame) or not labels or "request_id" not in frame or "prediction" not in frame:
        return empty
    row_labels = label_rows(frame["request_id"].to_numpy(), labels)
    has = np.array([v is not None for v in row_labels], dtype=bool)
    if not has.any():
        return empty
    scores = _scores(task, frame["prediction"].to_numpy()[has], row_labels[has])
    usable = ~np.isnan(scores)
    scores = scores[usable]
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)).as_unit("us")
    times = stamps.asi8[has][usable]  # epoch microseconds
    value = float(scores.mean()) if len(scores) else None
    return Accuracy(metric, greater, reference, len(scores), value, _windows(edges, times, scores))


def _windows(
    edges: Sequence[datetime] | None, times: np.ndarray | None, scores: np.ndarray | None
) -> tuple[AccuracyWindow, ...]:
    if not edges or len(edges) < 2:
        return ()
    bounds = np.array([round(e.timestamp() * 1_000_000) for e in edges], dtype=np.int64)
    if times is None or scores is None:
        counts: np.ndarray = np.zeros(len(edges) - 1, dtype=np.int64)
        sums: np.ndarray = np.zeros(len(edges) - 1)
    else:
        which = np.searchsorted(bounds, times, side="right") - 1
        inside = (which >= 0) & (which < len(edges) - 1)
        counts = np.bincount(which[inside], minlength=len(edges) - 1)
        sums = np.bincount(which[inside], weights=scores[inside], minlength=len(edges) - 1)
    return tuple(
        AccuracyWindow(
            edges[i],
            edges[i + 1],
            int(counts[i]),
            float(sums[i] / counts[i]) if counts[i] else None,
        )
        for i in range(len(edges) - 1)
    )
