"""What is being evaluated: checking the inputs, telling the task, asking the model.

Every user mistake found here (lengths that differ, a model not fitted, the wrong
columns, NaN in y) becomes one :class:`~deploykit.errors.EvaluationError` line that
names what was expected and what came, instead of a traceback from deep in sklearn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from deploykit.errors import EvaluationError, NotAnEstimatorError
from deploykit.evaluation._metrics import Outputs, py_scalar

__all__ = [
    "check_columns",
    "check_inputs",
    "detect_task",
    "model_name",
    "one_line",
    "positive_label",
    "predict_outputs",
]


def model_name(model: Any) -> str:
    return type(model).__name__


def check_inputs(
    model: Any, X: Any, y: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate what evaluate was given; return y and sample_weight as 1-D arrays."""
    if not callable(getattr(model, "predict", None)):
        raise NotAnEstimatorError(
            f"evaluate needs a fitted model with a predict method. Got a "
            f"{model_name(model)} instead."
        )
    n_rows = _n_rows(X, "X")
    y_arr = _as_1d(y, "y")
    if n_rows != len(y_arr):
        raise EvaluationError(
            f"X has {n_rows} rows but y has {len(y_arr)}; pass the labels of exactly these rows."
        )
    if n_rows == 0:
        raise EvaluationError("X and y are empty (0 rows); evaluate needs labelled rows.")
    missing = int(pd.isna(y_arr).sum())
    if missing:
        raise EvaluationError(
            f"y has {missing} missing value(s) (NaN or None); drop those rows or fill "
            "them in before evaluating."
        )
    sw = None if sample_weight is None else _check_weights(sample_weight, n_rows)
    if callable(getattr(model, "fit", None)):
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise _not_fitted(model) from None
        except TypeError:  # not an sklearn estimator; predict will tell
            pass
    return y_arr, sw


def check_columns(model: Any, X: Any) -> None:
    """Fail before predicting when X cannot be what ``model`` was fitted on."""
    name = model_name(model)
    expected = getattr(model, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if expected is not None and columns is not None:
        expected, got = [str(c) for c in expected], [str(c) for c in columns]
        missing = [c for c in expected if c not in got]
        unexpected = [c for c in got if c not in expected]
        if missing or unexpected:
            parts = [
                f"missing {_few(missing)}" if missing else "",
                f"unexpected {_few(unexpected)}" if unexpected else "",
            ]
            raise EvaluationError(
                f"X does not have the columns {name} was fitted on: "
                f"{', '.join(p for p in parts if p)}. Pass X with the columns {_few(expected)}."
            )
        if got != expected:
            raise EvaluationError(
                f"X has the columns {name} was fitted on but in another order; "
                "pass X[list(model.feature_names_in_)]."
            )
    n_expected = getattr(model, "n_features_in_", None)
    shape = getattr(X, "shape", None)
    if (
        isinstance(n_expected, int)
        and shape is not None
        and len(shape) == 2
        and shape[1] != n_expected
    ):
        raise EvaluationError(
            f"{name} expects {n_expected} features (columns) but X has {shape[1]}; "
            "pass X with the columns the model was fitted on."
        )


def detect_task(model: Any, y: np.ndarray) -> str:
    """``"binary"``, ``"multiclass"`` or ``"regression"``, from the model's kind and y."""
    name = model_name(model)
    target = type_of_target(y)
    kind = _kind(model, target)
    if kind == "regressor":
        if y.dtype.kind not in "biuf":
            example = py_scalar(next((v for v in y if not isinstance(v, (int, float))), y[0]))
            raise EvaluationError(
                f"{name} is a regressor but y holds non-numeric values such as {example!r}; "
                "pass numeric targets, or evaluate a classifier."
            )
        return "regression"
    if target == "continuous":
        raise EvaluationError(
            f"{name} is a classifier but y is continuous (values such as {py_scalar(y[0])!r}); "
            "pass the class labels as y, or evaluate a regressor."
        )
    if target not in ("binary", "multiclass"):
        raise EvaluationError(
            f"evaluate supports binary and multiclass classification and regression; "
            f"y looks {target} here. Evaluate one target column at a time."
        )
    known = set(np.unique(y).tolist())
    classes = getattr(model, "classes_", None)
    if classes is not None and np.ndim(classes) == 1:
        known |= set(np.asarray(classes).tolist())
    return "binary" if len(known) <= 2 else "multiclass"


def positive_label(model: Any, y: np.ndarray) -> Any:
    """The positive class of a binary task: ``classes_[1]``, that is the greater label."""
    classes = getattr(model, "classes_", None)
    if classes is not None and np.ndim(classes) == 1 and len(classes) == 2:
        label = classes[1]
    else:
        label = np.unique(y)[-1]
    return py_scalar(label)


def predict_outputs(model: Any, X: Any, task: str) -> Outputs:
    """Call predict once, and predict_proba or decision_function once, for a classifier.

    A model that rejects X raises EvaluationError naming the model and sklearn's reason.
    """
    try:
        y_pred = np.asarray(model.predict(X))
        if task == "regression":
            return Outputs(y_pred=y_pred)
        classes = getattr(model, "classes_", None)
        classes = None if classes is None else np.asarray(classes)
        if hasattr(model, "predict_proba"):
            return Outputs(y_pred, proba=np.asarray(model.predict_proba(X)), classes=classes)
        if task == "binary" and hasattr(model, "decision_function"):
            return Outputs(y_pred, decision=np.asarray(model.decision_function(X)), classes=classes)
        return Outputs(y_pred, classes=classes)
    except NotFittedError:
        raise _not_fitted(model) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise EvaluationError(
            f"{model_name(model)} could not predict on X: {one_line(exc)}"
        ) from None


def _kind(model: Any, target: str) -> str:
    try:
        if is_classifier(model):
            return "classifier"
        if is_regressor(model):
            return "regressor"
    except AttributeError:  # not an sklearn estimator: sklearn's tags are missing
        pass
    if hasattr(model, "classes_") or hasattr(model, "predict_proba"):
        return "classifier"
    if target == "continuous":
        return "regressor"
    raise EvaluationError(
        f"Cannot tell whether {model_name(model)} is a classifier or a regressor; make it "
        "inherit sklearn.base.ClassifierMixin or RegressorMixin (or give it classes_)."
    )


def _n_rows(X: Any, what: str) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise EvaluationError(
            f"{what} must be a table of rows (a DataFrame, an array or a list of rows). "
            f"Got {type(X).__name__} instead."
        ) from None


def _as_1d(y: Any, what: str) -> np.ndarray:
    _n_rows(y, what)
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise EvaluationError(
            f"{what} must be one column of targets. Got an array of shape {arr.shape} instead; "
            "evaluate one target column at a time."
        )
    return arr


def _check_weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    try:
        sw = np.asarray(sample_weight, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise EvaluationError(
            "The 'sample_weight' parameter of evaluate must be an array of numbers. "
            f"Got {type(sample_weight).__name__} instead."
        ) from None
    if len(sw) != n_rows:
        raise EvaluationError(f"X has {n_rows} rows but sample_weight has {len(sw)}.")
    if not np.isfinite(sw).all() or (sw < 0).any() or sw.sum() <= 0:
        raise EvaluationError(
            "The 'sample_weight' parameter of evaluate must hold finite weights >= 0 "
            "with a positive sum."
        )
    return sw


def _not_fitted(model: Any) -> EvaluationError:
    return EvaluationError(
        f"{model_name(model)} is not fitted yet; call model.fit(X_train, y_train) before "
        "evaluating it."
    )


def _few(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
