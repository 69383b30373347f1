"""Estimated performance from scores alone: CBPE for classifiers, an error model for regressors.

Classifiers (confidence-based performance estimation, as NannyML's CBPE): each logged
score is mapped through the calibration kept at push
(:mod:`deploykit.monitoring.calibration`) to the probability that the row belongs to the
class. Every metric is a function of a window's labels; with those probabilities in
place of the labels it is the estimate: the expected confusion counts give accuracy,
precision, recall and F1, and the expected ROC AUC counts the ranked pairs of rows, ties
half, as scikit-learn does. Binary metrics are about the positive class; multiclass ones
are macro averages (``precision_macro``...), ROC AUC one-vs-rest and macro-averaged, as
``roc_auc_score(multi_class="ovr", average="macro")``.

Bands: the estimate misses the realized value for two reasons, and the band adds both
variances, each from the metric's gradient in the probabilities (the delta method):
the realized metric is itself random (the window's labels are draws from those
probabilities: per row, the gradient's variance under a Bernoulli or one-hot
categorical draw, so that the classes' covariances in a macro average count), and the
calibration was learned from a finite evaluation (each isotonic block's level is
uncertain as a proportion of its rows: the fewer rows behind the calibration, the
wider the band). A case seen again (rows with identical inputs, when the inputs tell
cases apart: :mod:`deploykit.monitoring.cases`) has one label for all its rows, so the
first variance sums per case, not per row: 5,000 rows of 171 cases are worth about
171 independent rows, not 5,000. ``confidence`` = 0.9 gives the 5%-95% band.
Everything is vectorized: one ``np.interp`` per map and one sort per class per window.

Regressors (direct loss estimation, as NannyML's DLE): a ``HistGradientBoostingRegressor``
learns ``|error|`` (and ``error**2``) from the inputs and the prediction on the evaluation
rows kept at push; its mean over a window estimates MAE (and RMSE).

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
from deploykit.monitoring.cases import Cases

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


def _auc(
    scores: np.ndarray, p: np.ndarray, order: np.ndarray | None = None
) -> tuple[float, np.ndarray | None]:
    """:func:`_sorted_auc` of rows in any order (``order``: the rows by descending score,
    when known); the gradient comes back in the rows' order."""
    order = np.argsort(-scores) if order is None else order
    auc, in_order = _sorted_auc(scores[order], p[order])
    if in_order is None:
        return auc, None
    grad = np.empty_like(in_order)
    grad[order] = in_order
    return auc, grad


def _sorted_auc(s: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Expected ROC AUC of scores ``s`` (sorted, highest first) when row i is positive
    with probability ``w[i]``, and its gradient in ``w``.

    The realized AUC is A(y) / D(y): A counts (positive, negative) pairs ranked right,
    tied scores half, as sklearn does; D = positives x negatives. Both are sums over
    pairs of distinct rows, so their expectations are the same sums with ``p`` for the
    labels (a row is never paired with itself). The ratio of expectations is the
    estimate; the gradient serves both the realized AUC's variance given the scores and
    the calibration's share of the error."""
    u = 1.0 - w  # tied scores are grouped below: their order does not matter
    new = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    tp_in = np.add.reduceat(w, starts)
    fp_in = np.add.reduceat(u, starts)
    tp_before = np.cumsum(tp_in) - tp_in
    fp_before = np.cumsum(fp_in) - fp_in
    pos, neg = float(tp_in.sum()), float(fp_in.sum())
    denominator = pos * neg - float(w @ u)
    if pos <= 0 or neg <= 0 or denominator <= 0:
        return math.nan, None
    below = (neg - fp_before - 0.5 * fp_in)[group] - 0.5 * u  # negatives ranked below row i
    above = (tp_before + 0.5 * tp_in)[group] - 0.5 * w  # positives ranked above row i
    auc = float(w @ below) / denominator
    return auc, (below - above - auc * (neg - pos - 1.0 + 2.0 * w)) / denominator


def _one_vs_rest(
    raw: np.ndarray, p: np.ndarray, predicted: np.ndarray, order: np.ndarray
) -> dict[str, tuple[float, np.ndarray | None]]:
    """(value, gradient in ``p``) of precision, recall, F1 and ROC AUC of one class:
    ``p`` the probability that each row is of the class, ``predicted`` the rows predicted
    as it, ``order`` the rows by descending score. Precision and F1 of a class never
    predicted are 0, as sklearn's ``zero_division=0`` has them."""
    mask = predicted.astype(np.float64)
    k = float(mask.sum())
    a, total = float(p @ mask), float(p.sum())
    out: dict[str, tuple[float, np.ndarray | None]] = {}
    out["precision"] = (a / k, mask / k) if k > 0 else (0.0, np.zeros_like(p))
    out["recall"] = ((a / total), (mask - a / total) / total) if total > 0 else (math.nan, None)
    f1 = 2 * a / (k + total) if k + total > 0 else math.nan
    out["f1"] = (f1, (2 * mask - f1) / (k + total)) if k + total > 0 else (math.nan, None)
    out["roc_auc"] = _auc(raw, p, order)
    return out


def _in_order(f: Any, scores: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """``f(scores)`` for an elementwise ``f`` evaluated on the scores in ``order`` (by
    descending score): ``np.interp`` is ~10x faster on sorted scores, its search starting
    from the previous one's node."""
    if order is None:
        return np.asarray(f(scores))
    out = np.empty(len(scores), dtype=np.float64)
    out[order] = f(scores[order])
    return out


def _interpolation(
    scores: np.ndarray, nodes: np.ndarray, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(left node, weight of the right one) of each score, as ``np.interp`` weighs them."""
    if len(nodes) < 2:
        return np.zeros(len(scores), dtype=np.intp), np.zeros(len(scores))
    index = np.arange(len(nodes), dtype=np.float64)
    at = _in_order(lambda x: np.interp(x, nodes, index), scores, order)  # fractional index
    left = np.minimum(at.astype(np.intp), len(nodes) - 2)
    return left, at - left


class _MapError:
    """The calibration maps' share of an estimate's variance. An estimate moves by
    ``sum_i g[i, j] * d_j(raw[i, j])`` when map j moves by ``d_j`` (``g``: its gradient
    in the calibrated values); ``d_j`` is uncertain as the levels of map j's isotonic
    blocks are (independent, of the variance the evidence gives each), interpolated
    between them as the map itself is."""

    def __init__(
        self,
        evidence: CalibrationEvidence,
        raw: np.ndarray,
        orders: list[np.ndarray] | None = None,
    ) -> None:
        self.parts = []
        for j, cmap in enumerate(evidence.uncertain_maps):
            nodes, block, var = cmap.blocks
            left, right = _interpolation(raw[:, j], nodes, None if orders is None else orders[j])
            self.parts.append((left, right, block, var))

    def per_block(self, g: np.ndarray, j: int = 0) -> np.ndarray:
        """How much an estimate of gradient ``g`` (in map j's calibrated values) moves
        per unit move of each of map j's blocks."""
        left, right, block, var = self.parts[j]
        gr = g * right
        size = len(block) + 1
        h = (
            np.bincount(left, weights=g - gr, minlength=size)
            + np.bincount(left + 1, weights=gr, minlength=size)
        )[: len(block)]
        return np.bincount(block, weights=h, minlength=len(var))

    def variance(self, grad: np.ndarray) -> float:
        """``grad``: (rows, maps), the estimate's gradient in each map's calibrated value."""
        total = 0.0
        for j in range(len(self.parts)):
            h = self.per_block(grad[:, j], j)
            total += float(h * h @ self.parts[j][3])
        return total


class _Repeated:
    """The binary realized metric's variance given the scores when rows repeat: per case
    ``G_u^2 p_u (1 - p_u)`` (``G_u`` the sum of the case's gradients), mixed with the
    per-row sum as ``(1 - rho) * per row + rho * per case``."""

    def __init__(self, cases: Cases, v: np.ndarray, pos: np.ndarray) -> None:
        index = cases.index
        self.index, self.share = index, cases.share
        counts = np.bincount(index).astype(np.float64)
        self.counts = counts
        self.v = np.bincount(index, weights=v) / counts  # one score, so one p, per case
        positive = np.bincount(index, weights=pos, minlength=len(counts))
        # linear gradients a * positive + b: G_u = a * positive_u + b * count_u
        self.sums = (
            float(positive * positive @ self.v),
            float(positive * counts @ self.v),
            float(counts * counts @ self.v),
        )

    def linear(self, per_row: float, a: float, b: float) -> float:
        pp, pc, cc = self.sums
        per_case = a * a * pp + 2 * a * b * pc + b * b * cc
        return (1.0 - self.share) * per_row + self.share * per_case

    def binary(self, per_row: float, grad: np.ndarray) -> float:
        g = np.bincount(self.index, weights=grad, minlength=len(self.counts))
        return (1.0 - self.share) * per_row + self.share * float(g * g @ self.v)


def _repeated_multiclass(cases: Cases, per_row: float, grad: np.ndarray, P: np.ndarray) -> float:
    """As :class:`_Repeated`, for one-hot labels: per case ``G_u' (diag(P_u) - P_u P_u')
    G_u``."""
    index = cases.index
    counts = np.bincount(index).astype(np.float64)
    size = len(counts)
    G = np.column_stack(
        [np.bincount(index, weights=grad[:, j], minlength=size) for j in range(P.shape[1])]
    )
    Pu = (
        np.column_stack(
            [np.bincount(index, weights=P[:, j], minlength=size) for j in range(P.shape[1])]
        )
        / counts[:, None]
    )
    mean = np.sum(G * Pu, axis=1)
    per_case = float(np.sum(G * G * Pu) - mean @ mean)
    return (1.0 - cases.share) * per_row + cases.share * per_case


def estimate_classification(
    evidence: CalibrationEvidence,
    proba: np.ndarray,
    predicted: np.ndarray | None = None,
    *,
    cases: Cases | None = None,
    confidence: float = 0.9,
) -> dict[str, MetricEstimate]:
    """Estimated metrics of one window from the model's scores.

    ``proba`` is (rows, classes) in ``evidence.classes`` order (rows with NaN are
    dropped); ``predicted`` the model's labels as strings (else the top score's class);
    ``cases`` which rows are the same case seen again (:func:`~deploykit.monitoring.
    cases.find_cases`; None: every row its own case).

    Every metric is a function f of the window's labels; with the calibrated
    probabilities P in their place it is the estimate. Its band adds two variances,
    both from the gradient g of f in P: the realized metric's own, given the scores
    (labels drawn from P: sum of g' Cov(y_i) g over rows, the delta method), and the
    calibration maps' (how far the estimate moves as the maps' isotonic blocks do, so
    wider for a small evaluation). Rows of one case share their label: the realized
    metric's variance sums per case, ``(sum of its rows' g)' Cov(y) (...)``, mixed with
    the per-row sum by the share of identical rows that are repeats (``cases.share``).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(evidence.classes):
        raise ValueError(
            f"proba must have {len(evidence.classes)} columns ({', '.join(evidence.classes)}); "
            f"got shape {proba.shape}"
        )
    if cases is not None and cases.rows != len(proba):
        raise ValueError(f"cases must have one entry per row ({len(proba)}); got {cases.rows}")
    ok = None if np.isfinite(proba).all() else np.isfinite(proba).all(axis=1)
    if ok is not None:  # rows logged without scores
        proba = proba[ok]
        cases = None if cases is None else cases.subset(ok)
    classes = np.asarray(evidence.classes)
    if predicted is None:
        labels = proba.argmax(axis=1)
    else:
        pred = np.asarray(predicted)
        pred = pred if ok is None or len(pred) == len(proba) else pred[ok]
        pred = pred if pred.dtype.kind in "UT" else pred.astype(str)
        labels = np.full(len(proba), -1, dtype=np.intp)
        for j, name in enumerate(evidence.classes):
            labels[pred == name] = j
        unknown = labels < 0  # a label the evidence does not know: the top score's class
        if unknown.any():
            labels[unknown] = proba[unknown].argmax(axis=1)
    n = len(proba)
    names = estimated_metrics(evidence.task)
    if n == 0:
        return {m: MetricEstimate(None) for m in names}
    z = _z(confidence)
    out: dict[str, MetricEstimate] = {}
    if evidence.task == "binary":
        # every figure below is a sum over rows, so the rows may be taken in score order:
        # ROC AUC needs it, and interpolating sorted scores is ~10x faster (np.interp's
        # search starts from the previous row's node)
        order = np.argsort(-proba[:, 1])
        raw, labels = proba[order, 1:2], labels[order]
        cases = None if cases is None else Cases(cases.index[order], cases.share, cases.key)
        p = evidence.maps[0](raw[:, 0])
        maps = _MapError(evidence, raw)
        positive = labels == 1
        pos = positive.astype(np.float64)
        v = p * (1.0 - p)
        # accuracy, precision, recall and F1 have gradients a * positive + b: their
        # variances follow from a few sums (and the maps' from two projections)
        k, a_ = float(pos.sum()), float(p @ pos)
        total = float(p.sum())
        v_pos, v_all = float(v @ pos), float(v.sum())
        h_pos, h_one = maps.per_block(pos), maps.per_block(np.ones(n))
        var_block = maps.parts[0][3]
        linear = {"accuracy": (float(a_ + (n - k - (total - a_))) / n, 2.0 / n, -1.0 / n)}
        linear["precision"] = (a_ / k, 1.0 / k, 0.0) if k > 0 else (0.0, 0.0, 0.0)
        if total > 0:
            recall = a_ / total
            linear["recall"] = (recall, 1.0 / total, -recall / total)
            f1 = 2 * a_ / (k + total)
            linear["f1"] = (f1, 2.0 / (k + total), -f1 / (k + total))
        repeated = None if cases is None else _Repeated(cases, v, pos)
        for metric, (value, a, b) in linear.items():
            h = a * h_pos + b * h_one
            var = (a + b) ** 2 * v_pos + b * b * (v_all - v_pos)
            if repeated is not None:
                var = repeated.linear(var, a, b)
            out[metric] = _band(value, var + float(h * h @ var_block), z)
        auc, grad = _sorted_auc(raw[:, 0], p)  # the rows are in score order
        if grad is None:
            out["roc_auc"] = MetricEstimate(None)
        else:
            h = maps.per_block(grad)
            var = float(grad * grad @ v)
            if repeated is not None:
                var = repeated.binary(var, grad)
            out["roc_auc"] = _band(auc, var + float(h * h @ var_block), z)
        return {m: out.get(m, MetricEstimate(None)) for m in names}
    raw = proba
    k = len(classes)
    orders = [np.argsort(-raw[:, j]) for j in range(k)]  # for ROC AUC and fast interpolation
    cal = np.column_stack(
        [_in_order(cmap, raw[:, j], orders[j]) for j, cmap in enumerate(evidence.maps)]
    )
    sums = cal.sum(axis=1, keepdims=True)
    P = np.where(sums > 0, cal / np.where(sums > 0, sums, 1.0), 1.0 / k)
    maps = _MapError(evidence, raw, orders)
    hit = labels[:, None] == np.arange(k)[None, :]
    grads: dict[str, np.ndarray] = {"accuracy": hit / n}
    values_: dict[str, float] = {"accuracy": float(P[np.arange(n), labels].mean())}
    per_class = [_one_vs_rest(raw[:, j], P[:, j], hit[:, j], orders[j]) for j in range(k)]
    for metric in ("roc_auc", "precision", "recall", "f1"):
        name = metric if metric == "roc_auc" else f"{metric}_macro"
        found = [j for j in range(k) if math.isfinite(per_class[j][metric][0])]
        if not found or any(per_class[j][metric][1] is None for j in found):
            values_[name] = math.nan
            continue
        grad = np.zeros_like(P)
        for j in found:
            grad[:, j] = per_class[j][metric][1] / len(found)  # type: ignore[operator]
        values_[name] = sum(per_class[j][metric][0] for j in found) / len(found)
        grads[name] = grad
    for metric, value in values_.items():
        grad = grads.get(metric)
        if grad is None or not math.isfinite(value):
            out[metric] = MetricEstimate(_finite(value))
            continue
        # labels are one-hot draws from P: Var = sum_i g_i' (diag(P_i) - P_i P_i') g_i
        mean = np.sum(grad * P, axis=1, keepdims=True)
        var = float(np.sum(grad * grad * P) - np.sum(mean * mean))
        if cases is not None:
            var = _repeated_multiclass(cases, var, grad, P)
        # through the normalization P = cal / sum(cal), to each map's calibrated value
        by_map = np.where(sums > 0, (grad - mean) / np.where(sums > 0, sums, 1.0), 0.0)
        out[metric] = _band(value, var + maps.variance(by_map), z)
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
        self,
        X: np.ndarray,
        prediction: np.ndarray,
        *,
        cases: Cases | None = None,
        confidence: float = 0.9,
    ) -> dict[str, MetricEstimate]:
        """Estimated MAE and RMSE of one window (``X`` in ``columns`` order); ``cases``
        which rows are the same case seen again (their errors are one draw)."""
        data = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(prediction, float)])
        n = len(data)
        if n == 0:
            return {"mae": MetricEstimate(None), "rmse": MetricEstimate(None)}
        z = _z(confidence)
        abs_hat = np.maximum(self._models[0].predict(data), 0.0)
        sq_hat = np.maximum(self._models[1].predict(data), 0.0)
        mae = float(abs_hat.mean())
        mse = float(sq_hat.mean())
        # realized noise around the model (a mean over the window's independent cases),
        # and the model's own error (fitted on self.rows)
        effective = n if cases is None else cases.effective_rows
        mae_var = self._spread[0] * (1.0 / effective + 1.0 / self.rows)
        mse_var = self._spread[1] * (1.0 / effective + 1.0 / self.rows)
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
    cases: Cases | None = None,
    confidence: float = 0.9,
) -> dict[str, MetricEstimate]:
    """Estimated MAE and RMSE of one window: ``X`` holds ``evidence.columns``."""
    model = error_model(key, evidence) if key else ErrorModel(evidence)
    return model.estimate(X, prediction, cases=cases, confidence=confidence)


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
