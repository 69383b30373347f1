"""The metrics deploykit reports, by task, and how each is computed from one set of predictions.

Names follow scikit-learn's scorer names without the ``neg_`` prefix, so a value is the
metric itself (``rmse`` is an error, lower is better); :data:`GREATER_IS_BETTER` says
which way is up. Every metric of one model is computed from a single ``predict`` (and a
single ``predict_proba`` or ``decision_function``): the label metrics all derive from one
confusion matrix, so ten of them cost one pass over ``y``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import (
    max_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

__all__ = ["GREATER_IS_BETTER", "TASK_METRICS", "Outputs", "Scores", "py_scalar", "score_outputs"]

_LABEL_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
)

#: The metrics evaluated for each task, in the order reports list them.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": (*_LABEL_METRICS, "roc_auc", "log_loss"),
    # precision/recall/f1 of "the positive class" mean nothing with three or more classes.
    "multiclass": tuple(
        m
        for m in (*_LABEL_METRICS, "roc_auc", "log_loss")
        if m not in ("precision", "recall", "f1")
    ),
    "regression": ("rmse", "mae", "r2", "mape", "max_error"),
}

#: Whether a larger value of each metric is better; errors and losses are lower-is-better.
GREATER_IS_BETTER: dict[str, bool] = {
    **{name: True for name in _LABEL_METRICS},
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
    "max_error": False,
}


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What one model said about X: its labels or values, and its scores if it has any."""

    y_pred: np.ndarray
    proba: np.ndarray | None = None  # predict_proba, columns in `classes` order
    decision: np.ndarray | None = None  # binary decision_function, when there is no proba
    classes: np.ndarray | None = None  # the model's classes_


@dataclasses.dataclass(frozen=True)
class Scores:
    """The metrics of one model, why some are missing, and its confusion matrix."""

    metrics: dict[str, float]
    notes: tuple[str, ...] = ()
    confusion_matrix: list[list[int]] | None = None
    labels: list[Any] | None = None


def score_outputs(
    task: str,
    y: np.ndarray,
    outputs: Outputs,
    *,
    pos_label: Any = None,
    sample_weight: np.ndarray | None = None,
) -> Scores:
    """Every metric of ``task`` for ``outputs`` against the true ``y``.

    Metrics that are undefined on this data (``roc_auc`` with one class in ``y``, ``mape``
    with zeros in ``y``) are left out and a note says why; none comes back as NaN.
    """
    if task == "regression":
        return _regression(y, outputs.y_pred, sample_weight)
    return _classification(task, y, outputs, pos_label, sample_weight)


def _regression(y: np.ndarray, y_pred: np.ndarray, sw: np.ndarray | None) -> Scores:
    y = y.astype(float, copy=False)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y))
    if not np.isfinite(y_pred).all():
        raise ValueError("its predictions contain NaN or infinite values")
    metrics = {
        "rmse": root_mean_squared_error(y, y_pred, sample_weight=sw),
        "mae": mean_absolute_error(y, y_pred, sample_weight=sw),
    }
    notes = []
    if len(y) >= 2:
        metrics["r2"] = r2_score(y, y_pred, sample_weight=sw)
    else:
        notes.append("r2 omitted: it is undefined for a single row.")
    if (y == 0).any():
        notes.append("mape omitted: y contains zeros, where a percentage error is undefined.")
    else:
        metrics["mape"] = mean_absolute_percentage_error(y, y_pred, sample_weight=sw)
    # sklearn's max_error takes no weights: it is the worst row whatever its weight.
    metrics["max_error"] = max_error(y, y_pred)
    return Scores(metrics=_ordered("regression", metrics), notes=tuple(notes))


def _classification(
    task: str, y: np.ndarray, out: Outputs, pos_label: Any, sw: np.ndarray | None
) -> Scores:
    y_pred = np.asarray(out.y_pred).reshape(len(y))
    if {_kind(y), _kind(y_pred)} == {"number", "text"}:
        # numpy would compare 1 with "1" as text and report a silent accuracy of 0.
        raise ValueError(
            f"it predicts labels such as {py_scalar(y_pred[0])!r} but y holds labels such as "
            f"{py_scalar(y[0])!r}; pass y with the labels the model was trained on"
        )
    try:
        labels, codes = np.unique(np.concatenate([y, y_pred]), return_inverse=True)
    except TypeError:
        raise ValueError(
            f"it predicts labels such as {py_scalar(y_pred[0])!r} that cannot be compared with "
            f"the labels of y such as {py_scalar(y[0])!r}; pass y with the labels the model "
            "was trained on"
        ) from None
    n_labels = len(labels)
    true_idx, pred_idx = codes[: len(y)], codes[len(y) :]
    flat = true_idx * n_labels + pred_idx
    counts = np.bincount(flat, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    weighted = (
        counts
        if sw is None
        else np.bincount(flat, weights=sw, minlength=n_labels**2).reshape(n_labels, n_labels)
    )
    metrics = _from_confusion(task, weighted.astype(float), labels, pos_label)
    notes: list[str] = []
    if out.classes is not None and (out.proba is not None or out.decision is not None):
        _score_metrics(task, y, out, pos_label, sw, metrics, notes)
    else:
        notes.append("roc_auc and log_loss omitted: the model has no predict_proba.")
    return Scores(
        metrics=_ordered(task, metrics),
        notes=tuple(notes),
        confusion_matrix=counts.tolist(),
        labels=[py_scalar(label) for label in labels],
    )


def _from_confusion(
    task: str, cm: np.ndarray, labels: np.ndarray, pos_label: Any
) -> dict[str, float]:
    # Same definitions as sklearn's precision_recall_fscore_support(zero_division=0) over
    # unique_labels(y, y_pred); computed here once instead of once per metric.
    tp = np.diag(cm)
    n_true, n_pred = cm.sum(axis=1), cm.sum(axis=0)
    precision = _ratio(tp, n_pred)
    recall = _ratio(tp, n_true)
    f1 = _ratio(2 * tp, n_true + n_pred)
    total = n_true.sum()
    metrics = {
        "accuracy": tp.sum() / total,
        # sklearn averages recall over the classes present in y only.
        "balanced_accuracy": recall[n_true > 0].mean(),
    }
    if task == "binary":
        hit = np.flatnonzero(labels == pos_label)
        i = int(hit[0]) if hit.size else None
        metrics["precision"] = precision[i] if i is not None else 0.0
        metrics["recall"] = recall[i] if i is not None else 0.0
        metrics["f1"] = f1[i] if i is not None else 0.0
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        metrics[f"{name}_macro"] = per_class.mean()
        metrics[f"{name}_weighted"] = (per_class * n_true).sum() / total
    return {k: float(v) for k, v in metrics.items()}


def _score_metrics(
    task: str,
    y: np.ndarray,
    out: Outputs,
    pos_label: Any,
    sw: np.ndarray | None,
    metrics: dict[str, float],
    notes: list[str],
) -> None:
    classes = np.asarray(out.classes)
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        shown = ", ".join(repr(py_scalar(v)) for v in unseen[:5])
        notes.append(
            f"roc_auc and log_loss omitted: y holds labels the model was not trained on ({shown})."
        )
        return
    if task == "binary":
        if out.proba is not None:
            cols = np.flatnonzero(classes == pos_label)
            score = out.proba[:, cols[0]] if cols.size else None
        else:
            score = np.asarray(out.decision).reshape(len(y))
            if classes[-1] != pos_label:  # decision_function scores classes_[1]
                score = -score
        is_pos = y == pos_label
        if score is None:
            notes.append(f"roc_auc omitted: the model has no class {py_scalar(pos_label)!r}.")
        elif is_pos.all() or not is_pos.any():
            notes.append("roc_auc omitted: it is undefined when y holds a single class.")
        else:
            metrics["roc_auc"] = float(roc_auc_score(is_pos, score, sample_weight=sw))
    elif out.proba is not None:
        # One-vs-rest AUC is undefined for a class absent from y (no positives).
        if len(classes) < 3 or np.setdiff1d(classes, y).size:
            notes.append(
                "roc_auc omitted: one-vs-rest AUC needs every class the model knows "
                f"({len(classes)}) to appear in y."
            )
        else:
            metrics["roc_auc"] = float(
                roc_auc_score(
                    y,
                    out.proba,
                    multi_class="ovr",
                    average="macro",
                    labels=classes,
                    sample_weight=sw,
                )
            )
    if out.proba is None:
        notes.append("log_loss omitted: the model has no predict_proba.")
        return
    # Column of each row's true class in the model's proba.
    true_col = np.searchsorted(classes, y) if _is_sorted(classes) else _positions(classes, y)
    # sklearn's log_loss, written out: its signature changed in 1.9 (y_pred -> y_proba).
    eps = np.finfo(out.proba.dtype).eps if out.proba.dtype.kind == "f" else np.finfo(float).eps
    p_true = np.clip(out.proba[np.arange(len(y)), true_col], eps, 1 - eps)
    metrics["log_loss"] = float(np.average(-np.log(p_true), weights=sw))


def _kind(a: np.ndarray) -> str:
    return "number" if a.dtype.kind in "biuf" else "text" if a.dtype.kind in "US" else "other"


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # zero_division=0: a class never predicted has precision 0, not a warning.
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _is_sorted(a: np.ndarray) -> bool:
    try:
        return bool((a[:-1] <= a[1:]).all())
    except TypeError:
        return False


def _positions(classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    index = {py_scalar(c): i for i, c in enumerate(classes)}
    return np.array([index[py_scalar(v)] for v in y])


def _ordered(task: str, metrics: dict[str, float]) -> dict[str, float]:
    return {name: float(metrics[name]) for name in TASK_METRICS[task] if name in metrics}


def py_scalar(value: Any) -> Any:
    """A plain Python scalar for a numpy one, so labels survive JSON."""
    return value.item() if isinstance(value, np.generic) else value
