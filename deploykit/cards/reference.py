"""A few training rows and the model's answers on them, kept to prove a rebuild.

:func:`reference_sample` picks rows spread evenly over ``X`` at push time and records
what the model predicted (and its probabilities, when it has them).
``deploykit verify`` (:mod:`deploykit.cards.verify`) loads the artifact in a fresh
environment built from the lock, predicts the same rows, and compares. The rows are
stored as JSON values with their dtypes, so no pickle is needed to read them back.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_ROWS", "reference_sample"]

SAMPLE_ROWS = 25


def reference_sample(model: Any, X: Any, *, rows: int = SAMPLE_ROWS) -> dict[str, Any] | None:
    """Rows of ``X`` with ``model``'s predictions on them; None if the model cannot predict
    them here (the push goes on: a version without a sample cannot be verified, that's all)."""
    try:
        return _sample(model, X, rows)
    except Exception:  # a model that fails on its own training rows is the evaluation's topic
        return None


def _sample(model: Any, X: Any, rows: int) -> dict[str, Any] | None:
    frame = X if isinstance(X, pd.DataFrame) else None
    array = None if frame is not None else np.asarray(X)
    n = len(frame) if frame is not None else (array.shape[0] if array is not None else 0)
    if n == 0 or (array is not None and array.ndim != 2):
        return None
    index = np.unique(np.linspace(0, n - 1, num=min(rows, n)).round().astype(int))
    sample: dict[str, Any]
    if frame is not None:
        part = frame.iloc[index]
        sample = {
            "kind": "dataframe",
            "columns": [str(c) for c in part.columns],
            "dtypes": [str(t) for t in part.dtypes],
            "rows": [[_value(v) for v in row] for row in part.itertuples(index=False)],
        }
        inputs: Any = part
    else:
        assert array is not None
        part_array = array[index]
        sample = {
            "kind": "array",
            "dtype": str(part_array.dtype),
            "rows": [[_value(v) for v in row] for row in part_array.tolist()],
        }
        inputs = part_array
    sample["predictions"] = [_value(v) for v in np.asarray(model.predict(inputs)).tolist()]
    proba = getattr(model, "predict_proba", None)
    if callable(proba):
        # some classifiers expose predict_proba and refuse it (SVC without probability)
        with contextlib.suppress(Exception):
            sample["probabilities"] = np.asarray(proba(inputs), dtype=float).round(12).tolist()
    return sample


def _value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN/inf: JSON has no such number
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)  # timestamps, decimals...: their text, re-read through the dtype
