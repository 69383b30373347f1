"""Metrics per slice of the evaluation data: ``evaluate(..., slice_by="region")``.

The model predicts once on the whole of X; the outputs are then split by the slice's
values and scored per group, so slicing costs the metrics only. The largest groups are
kept (at most :data:`MAX_SLICES`); the rest are counted, not hidden.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from deploykit.errors import EvaluationError
from deploykit.evaluation._metrics import Outputs, score_outputs

__all__ = ["MAX_SLICES", "slice_keys", "slice_metrics"]

MAX_SLICES = 20


def slice_keys(X: Any, slice_by: Any, n: int) -> tuple[str, np.ndarray]:
    """(the slice's name, one key per row) for a column name of X or a sequence of keys."""
    if isinstance(slice_by, str):
        if not isinstance(X, pd.DataFrame) or slice_by not in X.columns:
            columns = list(X.columns) if isinstance(X, pd.DataFrame) else []
            raise EvaluationError(
                f"The 'slice_by' parameter must name a column of X or give one value per row. "
                f"Got {slice_by!r}; X's columns are {columns[:20]}."
            )
        return slice_by, X[slice_by].astype(str).to_numpy()
    keys = np.asarray(slice_by)
    if keys.ndim != 1 or len(keys) != n:
        raise EvaluationError(
            f"The 'slice_by' parameter must name a column of X or give one value per row "
            f"({n}). Got an array of shape {keys.shape} instead."
        )
    name = str(getattr(slice_by, "name", None) or "slice")
    return name, keys.astype(str)


def slice_metrics(
    name: str,
    keys: np.ndarray,
    task: str,
    y: np.ndarray,
    outputs: Outputs,
    *,
    pos_label: Any,
    sample_weight: np.ndarray | None,
) -> dict[str, Any]:
    """``{"column", "groups": [{"value", "rows", "metrics"}], "other_rows"}``."""
    values, counts = np.unique(keys, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:MAX_SLICES]
    groups = []
    for i in order:
        mask = keys == values[i]
        part = dataclasses.replace(
            outputs,
            y_pred=outputs.y_pred[mask],
            proba=None if outputs.proba is None else outputs.proba[mask],
            decision=None if outputs.decision is None else outputs.decision[mask],
        )
        sw = None if sample_weight is None else sample_weight[mask]
        try:
            metrics = score_outputs(task, y[mask], part, pos_label=pos_label, sample_weight=sw)
            figures = {k: float(v) for k, v in metrics.metrics.items()}
        except ValueError:  # a slice too small for a metric: show its size, not a failure
            figures = {}
        groups.append({"value": str(values[i]), "rows": int(counts[i]), "metrics": figures})
    shown = int(counts[order].sum())
    return {"column": name, "groups": groups, "other_rows": int(len(keys) - shown)}
