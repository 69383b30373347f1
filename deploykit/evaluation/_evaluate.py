"""evaluate(): a model's metrics on labelled data, beside a baseline and the production model."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import check_cv, cross_validate
from sklearn.utils import _safe_indexing

from deploykit.errors import EvaluationError, GateError, ModelNotFoundError, NotFoundError
from deploykit.evaluation._gate import NO_PRODUCTION, Gate
from deploykit.evaluation._metrics import TASK_METRICS, Scores, py_scalar, score_outputs
from deploykit.evaluation._report import EvaluationReport
from deploykit.evaluation._task import (
    check_columns,
    check_inputs,
    detect_task,
    model_name,
    one_line,
    positive_label,
    predict_outputs,
)

__all__ = ["evaluate"]

_Scorer = Callable[[Any, Any, np.ndarray, "np.ndarray | None"], Scores]


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    against: Any = None,
    name: str | None = None,
    cv: int | None = None,
    gate: str | Gate | None = None,
    sample_weight: Any = None,
    slice_by: Any = None,
) -> EvaluationReport:
    """Measure a fitted model on labelled data ``X, y`` and put the figures in context.

    The task (``"binary"``, ``"multiclass"`` or ``"regression"``) follows from the model
    (classifier or regressor) and ``y``. Metrics are named as in
    :data:`~deploykit.evaluation.TASK_METRICS`; for binary tasks the positive class is
    ``model.classes_[1]``, the greater label.

    Beside them, always, the same metrics of the best constant predictor on this data
    (``DummyClassifier(strategy="prior")`` or ``DummyRegressor(strategy="mean")``, fitted
    and scored on ``X, y``). With ``against`` (a deploykit ``Registry`` or HTTP client) and
    ``name``, also those of the model the ``production`` alias points to, scored on the same
    rows; if there is none, or it cannot score this data, the report's ``production_note``
    says why and evaluation goes on. ``cv=k`` adds the mean and std of each metric over
    k-fold cross-validation of a clone of ``model`` refitted on ``X, y`` (stratified for
    classifiers). ``gate`` (text or :class:`Gate`) is checked and its result stored in the
    report. ``sample_weight`` weighs rows in every metric (not ``max_error``) and in cv fits.
    ``slice_by`` (a column of X, or one key per row) adds the metrics of each slice (the
    20 largest), shown on the version's card.

    Raises EvaluationError, in one line, for data the model cannot be scored on: lengths
    that differ, no rows, NaN in y, an unfitted model, columns other than those fitted on.
    """
    y_arr, sw = check_inputs(model, X, y, sample_weight)
    folds = _check_cv(cv)
    gate_obj = _check_gate(gate)
    if against is not None:
        _check_against(against, name)
    task = detect_task(model, y_arr)
    if gate_obj is not None:
        gate_obj.validate(task)  # fail before any work on a gate that can never be checked
    if folds is not None:
        _check_folds(folds, task, y_arr)
    check_columns(model, X)
    pos_label = positive_label(model, y_arr) if task == "binary" else None

    def score(
        estimator: Any, X_: Any, y_: np.ndarray, sw_: np.ndarray | None, outputs: Any = None
    ) -> Scores:
        outputs = predict_outputs(estimator, X_, task) if outputs is None else outputs
        try:
            return score_outputs(task, y_, outputs, pos_label=pos_label, sample_weight=sw_)
        except ValueError as exc:
            raise EvaluationError(
                f"{model_name(estimator)} could not be evaluated: {one_line(exc)}"
            ) from None

    outputs = predict_outputs(model, X, task)
    main = score(model, X, y_arr, sw, outputs)
    evidence = _evidence(task, y_arr, outputs, X)
    slices = None
    if slice_by is not None:
        from deploykit.evaluation._slices import slice_keys, slice_metrics

        column, keys = slice_keys(X, slice_by, len(y_arr))
        slices = slice_metrics(
            column, keys, task, y_arr, outputs, pos_label=pos_label, sample_weight=sw
        )
    dummy = DummyRegressor(strategy="mean") if task == "regression" else DummyClassifier()
    baseline = score(dummy.fit(X, y_arr, sample_weight=sw), X, y_arr, sw)
    notes = [*main.notes, *(f"baseline: {n}" for n in baseline.notes if n not in main.notes)]
    if pos_label is not None and not isinstance(pos_label, (bool, int)):
        # 0/1 and False/True say it themselves; with strings, which one counts is not obvious
        notes.insert(
            0,
            f"positive class: {pos_label!r} (the greater label, classes_[1]); precision, "
            "recall and f1 are about it",
        )

    production = production_version = production_note = None
    if against is not None:
        production, production_version, production_note = _production(
            against, str(name), score, X, y_arr, sw
        )
    cv_scores = None
    if folds is not None:
        cv_scores, cv_notes = _cross_validate(model, X, y_arr, sw, folds, task, score)
        notes.extend(cv_notes)

    report = EvaluationReport(
        task=task,
        n_samples=len(y_arr),
        metrics=main.metrics,
        baseline=baseline.metrics,
        production=production,
        production_version=production_version,
        production_note=production_note,
        cv=cv_scores,
        confusion_matrix=main.confusion_matrix,
        labels=main.labels,
        notes=tuple(notes),
        slices=slices,
        evidence=evidence,
    )
    if gate_obj is None:
        return report
    return dataclasses.replace(report, gate=gate_obj.check(report))


def _evidence(task: str, y: np.ndarray, outputs: Any, X: Any) -> dict[str, Any] | None:
    """What estimating this model's metrics without labels will need (calibration maps,
    or error-model rows): kept with the version when the report is pushed."""
    from deploykit.monitoring.calibration import build_evidence

    try:
        evidence = build_evidence(
            task, y, y_pred=outputs.y_pred, proba=outputs.proba, classes=outputs.classes, X=X
        )
    except (ValueError, TypeError):  # scores isotonic regression cannot fit: no estimates
        return None
    return None if evidence is None else evidence.to_dict()


def _production(
    against: Any, name: str, score: _Scorer, X: Any, y: np.ndarray, sw: np.ndarray | None
) -> tuple[dict[str, float] | None, int | None, str | None]:
    try:
        record = against.version(name, "production")
        version = int(record.version)
        live = against.load(name, "production")
    except NotFoundError as exc:  # no such model, or nothing deployed yet: a first deploy
        why = "has not been pushed" if isinstance(exc, ModelNotFoundError) else "is not deployed"
        return None, None, f"{NO_PRODUCTION} yet: model {name!r} {why}"
    except Exception as exc:  # unpickling runs the artifact's code; any failure is a finding
        return None, None, f"the production model could not be loaded: {_describe(exc)}"
    try:
        check_columns(live, X)
        metrics = score(live, X, y, sw).metrics
    except Exception as exc:  # e.g. the new model uses columns the live one never saw
        return (
            None,
            version,
            (f"production version {version} could not be evaluated on this data: {_describe(exc)}"),
        )
    return metrics, version, None


def _cross_validate(
    model: Any,
    X: Any,
    y: np.ndarray,
    sw: np.ndarray | None,
    folds: int,
    task: str,
    score: _Scorer,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    name = model_name(model)
    try:
        estimator = clone(model)
    except TypeError as exc:
        raise EvaluationError(
            f"cv needs a scikit-learn estimator that sklearn.base.clone can copy; "
            f"{name} cannot be: {one_line(exc)}"
        ) from None
    splitter = check_cv(folds, y, classifier=task != "regression")
    try:
        # cross_validate fits the folds; the folds are then scored below by the same code
        # as the model itself, so definitions and sample weights are the same.
        result = cross_validate(
            estimator,
            X,
            y,
            cv=splitter,
            scoring=_n_rows,
            params=None if sw is None else {"sample_weight": sw},
            return_estimator=True,
            return_indices=True,
            error_score="raise",
        )
    except Exception as exc:
        raise EvaluationError(
            f"Cross-validation of {name} failed while fitting a fold: {_describe(exc)}"
        ) from None
    per_fold = [
        score(fitted, _safe_indexing(X, test), y[test], None if sw is None else sw[test]).metrics
        for fitted, test in zip(result["estimator"], result["indices"]["test"], strict=True)
    ]
    cv: dict[str, dict[str, float]] = {}
    notes = []
    for metric in TASK_METRICS[task]:
        values = [fold[metric] for fold in per_fold if metric in fold]
        if len(values) == len(per_fold):
            cv[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
        elif values:
            notes.append(f"cv: {metric} omitted: it is undefined in some folds.")
    return cv, notes


def _n_rows(estimator: Any, X: Any, y: Any) -> float:
    # cross_validate insists on scoring; the real scoring happens afterwards.
    return float(len(y))


def _check_cv(cv: Any) -> int | None:
    if cv is None:
        return None
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise EvaluationError(
            f"The 'cv' parameter of evaluate must be an int >= 2. Got {cv!r} instead."
        )
    return int(cv)


def _check_folds(folds: int, task: str, y: np.ndarray) -> None:
    if task == "regression":
        if len(y) < folds:
            raise EvaluationError(
                f"cv={folds} needs at least {folds} rows, but y has {len(y)}; lower cv "
                "or evaluate on more data."
            )
        return
    labels, counts = np.unique(y, return_counts=True)
    smallest = int(counts.argmin())
    if counts[smallest] < folds:
        label = py_scalar(labels[smallest])
        raise EvaluationError(
            f"cv={folds} needs at least {folds} rows of every class, but class "
            f"{label!r} has only {counts[smallest]} in y; lower cv or "
            "evaluate on more data."
        )


def _check_gate(gate: Any) -> Gate | None:
    if gate is None or isinstance(gate, Gate):
        return gate
    if isinstance(gate, str):
        return Gate.parse(gate)
    raise GateError(
        f"The 'gate' parameter of evaluate must be a str, a Gate or None. "
        f"Got {type(gate).__name__} instead."
    )


def _check_against(against: Any, name: Any) -> None:
    if not (
        callable(getattr(against, "version", None)) and callable(getattr(against, "load", None))
    ):
        raise EvaluationError(
            "The 'against' parameter of evaluate must be a deploykit Registry or client "
            f"(with version() and load()). Got {type(against).__name__} instead."
        )
    if not isinstance(name, str) or not name:
        raise EvaluationError(
            "The 'name' parameter of evaluate must name the registered model when "
            f"'against' is given, e.g. name='churn'. Got {name!r} instead."
        )


def _describe(exc: BaseException) -> str:
    # Our own errors are already sentences; a foreign one needs its type to make sense.
    text = one_line(exc)
    return text if isinstance(exc, EvaluationError) else f"{type(exc).__name__}: {text}"
