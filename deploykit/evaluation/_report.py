"""The result of :func:`~deploykit.evaluation.evaluate`: a model's metrics beside its rivals'."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from deploykit._fields import known_items
from deploykit.errors import EvaluationError
from deploykit.evaluation._gate import GateResult
from deploykit.evaluation._metrics import GREATER_IS_BETTER

__all__ = ["EvaluationReport"]

_AGAINST = ("production", "baseline")


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """A model's metrics on some labelled data, beside a baseline and the production model.

    ``baseline`` holds the same metrics for the best constant predictor on this very data
    (``DummyClassifier(strategy="prior")`` or ``DummyRegressor(strategy="mean")`` fitted on
    the evaluated ``X, y``): a model that does not beat it has learned nothing from X.
    ``production`` holds them for the version the ``production`` alias pointed to, when
    asked for and available; otherwise ``production_note`` says why there is none.
    ``cv`` maps a metric to the ``mean`` and ``std`` over the cross-validation folds.
    ``confusion_matrix`` counts rows (unweighted); its rows are the true labels and its
    columns the predicted ones, both in ``labels`` order. ``notes`` say why a metric
    of the task is missing (``mape`` when y has zeros, ``roc_auc`` without scores).
    ``slices`` (with ``evaluate(..., slice_by=...)``) holds the metrics per slice:
    ``{"column", "groups": [{"value", "rows", "metrics"}], "other_rows"}``.
    ``evidence`` is what estimating the metrics without labels needs later
    (:class:`deploykit.monitoring.calibration.CalibrationEvidence` as a dict), kept with
    the version when the report is pushed; None when the model gives no scores.
    """

    task: str
    n_samples: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    production: dict[str, float] | None = None
    production_version: int | None = None
    production_note: str | None = None
    cv: dict[str, dict[str, float]] | None = None
    confusion_matrix: list[list[int]] | None = None
    labels: list[Any] | None = None
    gate: GateResult | None = None
    notes: tuple[str, ...] = ()
    slices: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None

    def _other(self, against: str) -> dict[str, float] | None:
        if against not in _AGAINST:
            raise EvaluationError(
                "The 'against' parameter must be 'production' or 'baseline'. "
                f"Got {against!r} instead."
            )
        return self.production if against == "production" else self.baseline

    def delta(self, against: str = "production") -> dict[str, float]:
        """This model's metrics minus ``against``'s, for the metrics both have.

        Empty when comparing with production and there are no production figures.
        The sign is raw: for ``log_loss`` or ``rmse`` a negative delta is an improvement;
        see :meth:`improved`.
        """
        other = self._other(against) or {}
        return {m: v - other[m] for m, v in self.metrics.items() if m in other}

    def improved(self, metric: str, against: str = "production") -> bool | None:
        """Whether ``metric`` is strictly better than ``against``'s; None if not comparable."""
        other = self._other(against) or {}
        if metric not in self.metrics or metric not in other:
            return None
        mine, theirs = self.metrics[metric], other[metric]
        return mine > theirs if GREATER_IS_BETTER.get(metric, True) else mine < theirs

    def table(self) -> list[dict[str, Any]]:
        """One row per metric, ready for a front end to render.

        Keys: ``metric``, ``value``, ``baseline``, ``production``, ``delta`` (value minus
        production), ``better`` (vs production: True, False or None) and
        ``greater_is_better``. Missing figures are None.
        """
        delta = self.delta("production")
        production = self.production or {}
        return [
            {
                "metric": metric,
                "value": value,
                "baseline": self.baseline.get(metric),
                "production": production.get(metric),
                "delta": delta.get(metric),
                "better": self.improved(metric, "production"),
                "greater_is_better": GREATER_IS_BETTER.get(metric, True),
            }
            for metric, value in self.metrics.items()
        ]

    def __str__(self) -> str:
        """The metrics as a small text table: what ``print(report)`` shows."""
        head = f"Evaluation ({self.task}, {self.n_samples} rows)"
        if self.production_version is not None and self.production is not None:
            head += f" against production version {self.production_version}"
        lines = [head, f"{'metric':<20}{'value':>10}{'baseline':>10}{'production':>12}"]
        for row in self.table():
            cells = [row["value"], row["baseline"], row["production"]]
            shown = ["-" if v is None else f"{v:.4f}" for v in cells]
            lines.append(f"{row['metric']:<20}{shown[0]:>10}{shown[1]:>10}{shown[2]:>12}")
        notes = [*([self.production_note] if self.production_note else []), *self.notes]
        lines += [f"note: {n}" for n in notes]
        if self.gate is not None:
            lines.append(self.gate.summary())
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython's plain-text display protocol (duck-typed, nothing imported): the table,
        # not a dump of every dict. %load_ext deploykit adds an HTML rendering as well.
        printer.text(str(self))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: plain floats, ints, strings and lists only."""
        data = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        data["gate"] = None if self.gate is None else self.gate.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        """The report ``to_dict`` described; unknown keys are ignored for forward compatibility."""
        kwargs = known_items(cls, data)
        if isinstance(kwargs.get("gate"), dict):
            kwargs["gate"] = GateResult.from_dict(kwargs["gate"])
        kwargs["notes"] = tuple(kwargs.get("notes") or ())
        return cls(**kwargs)


def _plain(value: Any) -> Any:
    # A fresh copy made of builtins only: numpy scalars become Python ones, tuples lists.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
