"""Calibration evidence: what estimating a metric without labels needs, kept at push.

:func:`build_evidence` runs inside :func:`deploykit.evaluate` on the labelled data it
scores, and the result travels in the evaluation report (so in the version's metadata,
in the embedded registry and over HTTP alike). JSON only, a few kilobytes for a
classifier:

- classifiers: one isotonic calibration map per class (binary: the positive class),
  from the model's score to the observed frequency of the class on the evaluation rows,
  with the number of evaluation rows behind each level (the map's own uncertainty);
- regressors: a sample of the evaluation rows (numeric columns), the model's
  predictions and absolute errors there, for the error model (a
  ``HistGradientBoostingRegressor`` refitted deterministically on first use: storing
  the fitted trees would need a pickle).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CalibrationEvidence", "CalibrationMap", "build_evidence"]

_MAX_POINTS = 400  # points kept per calibration map
_REGRESSION_ROWS = 2000  # evaluation rows kept for the error model, at most ...
_REGRESSION_CELLS = 30_000  # ... and at most this many numbers (it rides in metadata)


@dataclasses.dataclass(frozen=True)
class CalibrationMap:
    """A monotone map from a raw score to a probability, with its support counts."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    counts: tuple[int, ...]  # evaluation rows in the level of each point

    @classmethod
    def fit(cls, scores: np.ndarray, hits: np.ndarray) -> CalibrationMap:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(scores, hits.astype(np.float64))
        x, y = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        if len(x) > _MAX_POINTS:  # keep the ends, thin the middle
            keep = np.unique(np.linspace(0, len(x) - 1, _MAX_POINTS).round().astype(int))
            x, y = x[keep], y[keep]
        levels, counts = np.unique(iso.predict(scores), return_counts=True)
        at = np.clip(np.searchsorted(levels, y), 0, len(levels) - 1)
        m = counts[at]
        # a level of 0 or 1 from a few dozen rows is overconfident (pool-adjacent-violators
        # fits the evaluation rows): half a pseudo-row each way keeps it off the ends
        y = (y * m + 0.5) / (m + 1.0)
        return cls(tuple(x.tolist()), tuple(y.tolist()), tuple(m.tolist()))

    @functools.cached_property
    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct calibrated values, evaluation rows behind each)."""
        levels, first = np.unique(np.asarray(self.y), return_index=True)
        return levels, np.asarray(self.counts, dtype=np.float64)[first]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, np.asarray(self.x), np.asarray(self.y))

    def support(self, scores: np.ndarray) -> np.ndarray:
        """Evaluation rows behind the calibrated value of each score."""
        x = np.asarray(self.x)
        at = np.clip(np.searchsorted(x, scores), 0, len(x) - 1)
        return np.asarray(self.counts, dtype=np.float64)[at]

    def to_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationMap:
        return cls(
            tuple(float(v) for v in d["x"]),
            tuple(float(v) for v in d["y"]),
            tuple(int(v) for v in d["counts"]),
        )


@dataclasses.dataclass(frozen=True)
class CalibrationEvidence:
    """What :mod:`deploykit.monitoring.estimate` needs, from one labelled evaluation."""

    task: str  # "binary", "multiclass" or "regression"
    rows: int
    classes: tuple[str, ...] = ()  # as in the log's probability.<class> columns
    maps: tuple[CalibrationMap, ...] = ()  # binary: the positive class only
    columns: tuple[str, ...] = ()  # regression: the numeric inputs kept
    X: tuple[tuple[float | None, ...], ...] = ()
    prediction: tuple[float, ...] = ()
    abs_error: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"task": self.task, "rows": self.rows}
        if self.task == "regression":
            d.update(
                columns=list(self.columns),
                X=[list(r) for r in self.X],
                prediction=list(self.prediction),
                abs_error=list(self.abs_error),
            )
        else:
            d.update(classes=list(self.classes), maps=[m.to_dict() for m in self.maps])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationEvidence:
        def num(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            task=str(d["task"]),
            rows=int(d["rows"]),
            classes=tuple(str(c) for c in d.get("classes", ())),
            maps=tuple(CalibrationMap.from_dict(m) for m in d.get("maps", ())),
            columns=tuple(str(c) for c in d.get("columns", ())),
            X=tuple(tuple(num(v) for v in row) for row in d.get("X", ())),
            prediction=tuple(float(v) for v in d.get("prediction", ())),
            abs_error=tuple(float(v) for v in d.get("abs_error", ())),
        )

    def matrix(self) -> np.ndarray:
        """The kept evaluation rows as floats (None as NaN)."""
        return np.array(
            [[math.nan if v is None else v for v in row] for row in self.X], dtype=np.float64
        ).reshape(len(self.X), len(self.columns))


def build_evidence(
    task: str,
    y: np.ndarray,
    *,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
    X: Any = None,
    seed: int = 0,
) -> CalibrationEvidence | None:
    """The evidence of one evaluation; None when the model gives no scores to calibrate."""
    if task == "regression":
        return _regression(y, y_pred, X, seed)
    if proba is None or classes is None:
        return None
    proba = np.asarray(proba, dtype=np.float64)
    names = tuple(str(_scalar(c)) for c in classes)
    if task == "binary":
        maps: tuple[CalibrationMap, ...] = (
            CalibrationMap.fit(proba[:, 1], y == np.asarray(classes)[1]),
        )
    else:
        maps = tuple(
            CalibrationMap.fit(proba[:, j], y == c) for j, c in enumerate(np.asarray(classes))
        )
    return CalibrationEvidence(task=task, rows=len(y), classes=names, maps=maps)


def _regression(y: np.ndarray, y_pred: np.ndarray, X: Any, seed: int) -> CalibrationEvidence | None:
    if X is None:
        return None
    import pandas as pd

    from deploykit.monitoring.profile import _frame, is_numeric

    frame = _frame(X)
    numeric = [c for c in frame.columns if is_numeric(frame[c].dtype)]
    if not numeric:
        return None
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y))
    errors = np.abs(np.asarray(y, dtype=np.float64) - y_pred)
    limit = max(200, min(_REGRESSION_ROWS, _REGRESSION_CELLS // len(numeric)))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size=min(limit, len(y)), replace=False))
    values = frame[numeric].iloc[rows].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    return CalibrationEvidence(
        task="regression",
        rows=len(y),
        columns=tuple(str(c) for c in numeric),
        X=tuple(tuple(v if math.isfinite(v) else None for v in row) for row in values.tolist()),
        prediction=tuple(y_pred[rows].tolist()),
        abs_error=tuple(errors[rows].tolist()),
    )


def _scalar(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
