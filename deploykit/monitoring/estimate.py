"""Estimated performance from scores alone: CBPE for classifiers, an error model for regressors.

Classifiers (confidence-based performance estimation, as NannyML's CBPE): each logged
score is mapped through the isotonic calibration kept at push
(:mod:`deploykit.monitoring.calibration`) to the probability that the row belongs to the
class. Summing those probabilities gives the *expected* confusion matrix of a window, and
from it accuracy, precision, recall and F1; the expected ROC AUC weighs the ranked scores
by the same probabilities. Binary metrics are about the positive class; multiclass ones
are macro averages (``precision_macro``...), ROC AUC one-vs-rest.

Regressors (direct loss estimation, as NannyML's DLE): a ``HistGradientBoostingRegressor``
learns ``|error|`` (and ``error**2``) from the inputs and the prediction on the evaluation
rows kept at push; its mean over a window estimates MAE (and RMSE).

Bands: given the calibrated probabilities, the realized metric of a window is random (the
labels are); its variance is computed in closed form (Poisson-binomial sums, delta
method, DeLong for ROC AUC), then widened by the calibration map's own
uncertainty (the evaluation rows behind each level). ``confidence`` = 0.9 gives the
5%-95% band. Everything is vectorized: one ``np.interp`` and one sort per window.

An estimate is only as good as the scores' calibration and the reference's coverage of
the data: :func:`untrusted_reasons` says when it should not be believed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from deploykit.monitoring.calibration import CalibrationEvidence

__all__ = [
    "CLASSIFICATION_METRICS",
    "ErrorModel",
    "MetricEstimate",
    "estimate_classification",
    "estimate_regression",
    "estimated_metrics",
    "outside_share",
    "untrusted_reasons",
]

CLASSIFICATION_METRICS = {
    "binary": ("accuracy", "roc_auc", "precision", "recall", "f1"),
    "multiclass": ("accuracy", "roc_auc", "precision_macro", "recall_macro", "f1_macro"),
    "regression": ("mae", "rmse"),
}
SUPPORT_THRESHOLD = 0.1  # share of rows outside the reference's ranges that voids trust
MIN_ROWS = 50  # fewer rows than this in a window: too few to estimate from


def estimated_metrics(task: str) -> tuple[str, ...]:
    """The metrics estimated for ``task``."""
    return CLASSIFICATION_METRICS.get(task, ())


@dataclasses.dataclass(frozen=True)
class MetricEstimate:
    """One metric of one window: the estimate, its band, and the realized value if known."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    realized: float | None = None

    def covers(self, value: float) -> bool:
        return (
            self.lower is not None and self.upper is not None and self.lower <= value <= self.upper
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricEstimate:
        def num(key: str) -> float | None:
            v = d.get(key)
            return None if v is None else float(v)

        return cls(num("value"), num("lower"), num("upper"), num("realized"))


@functools.lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def _band(
    value: float, var: float, z: float, low: float = 0.0, high: float = 1.0
) -> MetricEstimate:
    if not math.isfinite(value):
        return MetricEstimate(None)
    half = z * math.sqrt(max(var, 0.0))
    return MetricEstimate(value, max(low, value - half), min(high, value + half))


def _expected_auc(scores: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(expected ROC AUC, its variance) of ``scores`` when row i is positive with
    probability ``p[i]``; tied scores count half, as in sklearn. The variance is DeLong's
    (structural components), with expected labels as weights."""
    order = np.argsort(-scores)  # ties are grouped below: their order does not matter
    s, w = scores[order], p[order]
    u = 1.0 - w
    new = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    tp_in = np.add.reduceat(w, starts)
    fp_in = np.add.reduceat(u, starts)
    tp_before = np.cumsum(tp_in) - tp_in
    fp_before = np.cumsum(fp_in) - fp_in
    pos, neg = float(tp_in.sum()), float(fp_in.sum())
    if pos <= 0 or neg <= 0:
        return math.nan, math.nan
    v10 = ((neg - fp_before - 0.5 * fp_in) / neg)[group]  # each positive: negatives below
    v01 = ((tp_before + 0.5 * tp_in) / pos)[group]  # each negative: positives above
    auc = float(np.dot(w, v10) / pos)
    s10 = float(np.dot(w, (v10 - auc) ** 2) / pos)
    s01 = float(np.dot(u, (v01 - auc) ** 2) / neg)
    return auc, s10 / max(pos - 1, 1) + s01 / max(neg - 1, 1)


def _ratio_vars(a: float, va: float, b: float, vb: float, k: float) -> tuple[float, float]:
    """Delta-method variances of recall = a/(a+b) and F1 = 2a/(a+k+b), where a = TP
    (among the k predicted positive) and b = FN are independent sums of Bernoullis."""
    s = a + b
    recall_var = (b * b * va + a * a * vb) / s**4 if s > 0 else math.nan
    d = a + k + b
    f1_var = ((2 * (k + b) / d**2) ** 2 * va + (2 * a / d**2) ** 2 * vb) if d > 0 else math.nan
    return recall_var, f1_var


def _per_class(
    raw: np.ndarray, p: np.ndarray, predicted: np.ndarray
) -> dict[str, tuple[float, float]]:
    """One-vs-rest (value, variance) of precision, recall, F1 and ROC AUC of one class."""
    v = p * (1.0 - p)
    mask = predicted.astype(np.float64)
    k = float(mask.sum())
    a, va = float(p @ mask), float(v @ mask)
    b, vb = float(p.sum()) - a, float(v.sum()) - va
    precision = (a / k, va / k**2) if k > 0 else (math.nan, math.nan)
    recall_var, f1_var = _ratio_vars(a, va, b, vb, k)
    recall = (a / (a + b), recall_var) if a + b > 0 else (math.nan, math.nan)
    f1 = (2 * a / (a + k + b), f1_var) if a + k + b > 0 else (math.nan, math.nan)
    return {"precision": precision, "recall": recall, "f1": f1, "roc_auc": _expected_auc(raw, p)}


def _calibration_var(
    evidence: CalibrationEvidence, cal: np.ndarray, weights: np.ndarray, n: int
) -> float:
    """Variance of sum(weights * calibrated) / n that comes from the calibration maps:
    rows sharing a level of a map share its error, of variance p(1-p)/m (m rows behind it).
    ``cal`` (calibrated scores) and ``weights`` are (rows, maps)."""
    total = 0.0
    for j, cmap in enumerate(evidence.maps):
        levels, counts = cmap.levels
        at = np.clip(np.searchsorted(levels, cal[:, j]), 0, len(levels) - 1)
        w = np.bincount(at, weights=weights[:, j], minlength=len(levels)) / n
        total += float(np.sum(w * w * levels * (1 - levels) / np.maximum(counts, 1)))
    return total


def estimate_classification(
    evidence: CalibrationEvidence,
    proba: np.ndarray,
    predicted: np.ndarray | None = None,
    *,
    confidence: float = 0.9,
) -> dict[str, MetricEstimate]:
    """Estimated metrics of one window from the model's scores.

    ``proba`` is (rows, classes) in ``evidence.classes`` order (rows with NaN are
    dropped); ``predicted`` the model's labels as strings (else the top score's class).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(evidence.classes):
        raise ValueError(
            f"proba must have {len(evidence.classes)} columns ({', '.join(evidence.classes)}); "
            f"got shape {proba.shape}"
        )
    ok = np.isfinite(proba).all(axis=1)
    if not ok.all():  # rows logged without scores
        proba = proba[ok]
    classes = np.asarray(evidence.classes)
    if predicted is None:
        labels = proba.argmax(axis=1)
    else:
        pred = np.asarray(predicted)
        pred = pred if len(pred) == len(proba) else pred[ok]
        pred = pred if pred.dtype.kind in "UT" else pred.astype(str)
        labels = proba.argmax(axis=1)  # for a label the evidence does not know
        for j, name in enumerate(evidence.classes):
            labels[pred == name] = j
    n = len(proba)
    names = estimated_metrics(evidence.task)
    if n == 0:
        return {m: MetricEstimate(None) for m in names}
    z = _z(confidence)
    if evidence.task == "binary":
        raw = proba[:, 1]
        p = evidence.maps[0](raw)
        positive = labels == 1
        q = np.where(positive, p, 1.0 - p)
        acc, acc_var = float(q.mean()), float(np.sum(q * (1 - q))) / n**2
        cal_var = _calibration_var(evidence, p[:, None], np.where(positive, 1.0, -1.0)[:, None], n)
        per = _per_class(raw, p, positive)
        values = {m: per[m] for m in ("roc_auc", "precision", "recall", "f1")}
    else:
        raw = proba
        cal = np.column_stack([cmap(raw[:, j]) for j, cmap in enumerate(evidence.maps)])
        sums = cal.sum(axis=1, keepdims=True)
        P = np.where(sums > 0, cal / np.where(sums > 0, sums, 1.0), 1.0 / cal.shape[1])
        hit = labels[:, None] == np.arange(len(classes))[None, :]
        q = P[np.arange(n), labels]
        acc, acc_var = float(q.mean()), float(np.sum(q * (1 - q))) / n**2
        cal_var = _calibration_var(evidence, cal, hit.astype(np.float64), n)
        per_class = [_per_class(raw[:, j], P[:, j], hit[:, j]) for j in range(len(classes))]
        values = {}
        for metric in ("roc_auc", "precision", "recall", "f1"):
            pairs = [c[metric] for c in per_class if math.isfinite(c[metric][0])]
            k = len(pairs)
            name = metric if metric == "roc_auc" else f"{metric}_macro"
            values[name] = (
                (sum(v for v, _ in pairs) / k, sum(s for _, s in pairs) / k**2)
                if k
                else (math.nan, math.nan)
            )
    # the calibration maps' uncertainty widens every band as much as it widens accuracy's
    widen = 1.0 + (cal_var / acc_var if acc_var > 0 else 0.0)
    out = {"accuracy": _band(acc, (acc_var + cal_var), z)}
    for metric, (value, var) in values.items():
        out[metric] = (
            _band(value, var * widen, z) if math.isfinite(var) else MetricEstimate(_finite(value))
        )
    return {m: out.get(m, MetricEstimate(None)) for m in names}


class ErrorModel:
    """Per-row absolute and squared error of a regressor, learned from its evaluation."""

    def __init__(self, evidence: CalibrationEvidence, *, seed: int = 0) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.model_selection import cross_val_predict
        from threadpoolctl import threadpool_limits

        self.columns = evidence.columns
        X = np.column_stack([evidence.matrix(), np.asarray(evidence.prediction)])
        abs_error = np.asarray(evidence.abs_error)
        self._models = []
        self._spread = []
        # small fits: one thread each, so that a busy server is not oversubscribed by OpenMP
        with threadpool_limits(1):
            for target in (abs_error, abs_error**2):
                model = HistGradientBoostingRegressor(
                    max_iter=60, max_leaf_nodes=15, early_stopping=False, random_state=seed
                )
                oof = cross_val_predict(model, X, target, cv=3)
                self._spread.append(float(np.var(target - oof)))
                self._models.append(model.fit(X, target))
        self.rows = len(abs_error)

    def estimate(
        self, X: np.ndarray, prediction: np.ndarray, *, confidence: float = 0.9
    ) -> dict[str, MetricEstimate]:
        """Estimated MAE and RMSE of one window (``X`` in ``columns`` order)."""
        data = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(prediction, float)])
        n = len(data)
        if n == 0:
            return {"mae": MetricEstimate(None), "rmse": MetricEstimate(None)}
        z = _z(confidence)
        abs_hat = np.maximum(self._models[0].predict(data), 0.0)
        sq_hat = np.maximum(self._models[1].predict(data), 0.0)
        mae = float(abs_hat.mean())
        mse = float(sq_hat.mean())
        # realized noise around the model, and the model's own error (fitted on self.rows)
        mae_var = self._spread[0] * (1.0 / n + 1.0 / self.rows)
        mse_var = self._spread[1] * (1.0 / n + 1.0 / self.rows)
        rmse = math.sqrt(mse)
        rmse_var = mse_var / (4 * mse) if mse > 0 else 0.0
        inf = math.inf
        return {
            "mae": _band(mae, mae_var, z, 0.0, inf),
            "rmse": _band(rmse, rmse_var, z, 0.0, inf),
        }


_ERROR_MODELS: OrderedDict[str, ErrorModel] = OrderedDict()


def error_model(key: str, evidence: CalibrationEvidence) -> ErrorModel:
    """The error model of ``evidence``, fitted once per ``key`` (a version's digest)."""
    model = _ERROR_MODELS.pop(key, None) or ErrorModel(evidence)
    _ERROR_MODELS[key] = model
    while len(_ERROR_MODELS) > 16:
        _ERROR_MODELS.popitem(last=False)
    return model


def estimate_regression(
    evidence: CalibrationEvidence,
    X: np.ndarray,
    prediction: np.ndarray,
    *,
    key: str | None = None,
    confidence: float = 0.9,
) -> dict[str, MetricEstimate]:
    """Estimated MAE and RMSE of one window: ``X`` holds ``evidence.columns``."""
    model = error_model(key, evidence) if key else ErrorModel(evidence)
    return model.estimate(X, prediction, confidence=confidence)


def outside_share(
    ranges: Mapping[str, tuple[float, float]], columns: Mapping[str, np.ndarray]
) -> float:
    """Share of rows with a value outside its column's reference ``(min, max)``."""
    outside: np.ndarray | None = None
    for name, (low, high) in ranges.items():
        values = columns.get(name)
        if values is None:
            continue
        with np.errstate(invalid="ignore"):
            off = (np.asarray(values, dtype=np.float64) < low) | (
                np.asarray(values, dtype=np.float64) > high
            )
        outside = off if outside is None else outside | off
    return float(outside.mean()) if outside is not None and len(outside) else 0.0


def untrusted_reasons(
    *,
    evidence: CalibrationEvidence | None,
    rows: int,
    outside: float | None = None,
    support_threshold: float = SUPPORT_THRESHOLD,
) -> list[str]:
    """Why an estimate of a window should not be believed; empty when it can be."""
    reasons = []
    if evidence is None:
        reasons.append(
            "no calibration evidence: the version was pushed without an evaluation on "
            "labelled data (push with evaluation=deploykit.evaluate(model, X_test, y_test))"
        )
    if rows < MIN_ROWS:
        reasons.append(f"only {rows} rows in the window (at least {MIN_ROWS} are needed)")
    if outside is not None and outside > support_threshold:
        reasons.append(
            f"{outside:.0%} of rows lie outside the reference data's range "
            f"(more than {support_threshold:.0%}): the calibration was never checked there"
        )
    return reasons


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
