"""What a drift check returns: typed, frozen, JSON round-trippable.

- :class:`FeatureDrift` — one feature (or the predictions): method, score,
  threshold, verdict, and the counts behind them.
- :class:`DriftReport` — every feature of one window, the share that drifted and
  prediction drift.
- :class:`DriftWindow` — one point of a chart: scores and verdicts of one window.
- :class:`Accuracy` — accuracy (or MAE) where feedback labels exist, beside the
  figure recorded at push, overall and per window.
- :class:`DriftTimeline` — a report for the whole period, one :class:`DriftWindow`
  per time step, and accuracy.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from deploykit.errors import NotFoundError

if TYPE_CHECKING:
    from deploykit.monitoring.multivariate import MultivariateDrift

__all__ = [
    "Accuracy",
    "AccuracyWindow",
    "DriftReport",
    "DriftTimeline",
    "DriftWindow",
    "FeatureDrift",
    "unknown_name",
]


def unknown_name(what: str, name: object, known: Sequence[str], where: str) -> NotFoundError:
    """The error for a ``what`` (column, feature) ``where`` has not: its names, and the
    closest one when ``name`` looks like a typo of it."""
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return NotFoundError(
        f"No {what} {name!r} in {where}; it has {', '.join(map(repr, known))}.{hint}"
    )


def _num(value: float | None) -> float | None:
    """JSON-safe float: NaN and infinities become None (the score could not be computed)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature.

    ``score`` is the method's statistic (a distance, or a p-value for ``ks`` and
    ``chi2``) and ``drifted`` compares it with ``threshold``. Under the default
    (``auto``) policy the score is an effect size and the change must also be
    significant: ``p_value`` below ``alpha``, the family-wise level divided among
    the report's tests. ``drifted`` is None when there was nothing to compare.
    ``missing`` counts null/NaN (and, for numbers, infinite or unparsable) values in
    the current window; ``unseen`` counts values of categories the reference never had.
    """

    feature: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool | None
    n_reference: int
    n_current: int
    missing: int = 0
    missing_share: float | None = None
    reference_missing_share: float = 0.0
    missing_drifted: bool = False
    unseen: int = 0
    unseen_values: tuple[str, ...] = ()
    p_value: float | None = None
    alpha: float | None = None
    test: str | None = None
    note: str | None = None
    # The histogram behind the verdict, for charts: the reference's bins (or categories) and
    # how many reference and current values fell in each.
    bins: tuple[str, ...] = ()
    reference_counts: tuple[int, ...] = ()
    current_counts: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("score", "p_value", "alpha", "missing_share"):
            d[key] = _num(d[key])
        for key in ("unseen_values", "bins", "reference_counts", "current_counts"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureDrift:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        for key in ("unseen_values", "bins", "reference_counts", "current_counts"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """Drift of every feature of one window against a version's reference profile."""

    rows: int
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None = None
    alpha: float | None = None
    model: str | None = None
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    notes: tuple[str, ...] = ()
    #: the PCA reconstruction-error verdict (features that move together anew), if the
    #: profile has a multivariate reference
    multivariate: MultivariateDrift | None = None

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    @property
    def drifted_share(self) -> float | None:
        """Share of the features with a verdict that drifted; None if none had data."""
        judged = [f for f in self.features if f.drifted is not None]
        if not judged:
            return None
        return sum(bool(f.drifted) for f in judged) / len(judged)

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise unknown_name("feature", name, [f.feature for f in self.features], "this drift report")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "since": _time(self.since),
            "until": _time(self.until),
            "rows": self.rows,
            "alpha": self.alpha,
            "drifted_share": self.drifted_share,
            "drifted_features": list(self.drifted_features),
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "notes": list(self.notes),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftReport:
        from deploykit.monitoring.multivariate import MultivariateDrift

        prediction = d.get("prediction")
        multi = d.get("multivariate")
        return cls(
            rows=int(d["rows"]),
            features=tuple(FeatureDrift.from_dict(f) for f in d.get("features", ())),
            prediction=None if prediction is None else FeatureDrift.from_dict(prediction),
            alpha=d.get("alpha"),
            model=d.get("model"),
            version=d.get("version"),
            since=_parse_time(d.get("since")),
            until=_parse_time(d.get("until")),
            notes=tuple(d.get("notes") or ()),
            multivariate=None if multi is None else MultivariateDrift.from_dict(multi),
        )

    def summary(self) -> DriftWindow:
        """The compact form of this report, for one point of a chart."""
        p, m = self.prediction, self.multivariate
        return DriftWindow(
            since=self.since,
            until=self.until,
            rows=self.rows,
            drifted_share=self.drifted_share,
            drifted_features=self.drifted_features,
            scores={f.feature: _num(f.score) for f in self.features},
            prediction_score=None if p is None else _num(p.score),
            prediction_drifted=None if p is None else p.drifted,
            multivariate_score=None if m is None else _num(m.statistic),
            multivariate_p_value=None if m is None else _num(m.p_value),
            multivariate_drifted=None if m is None else m.drifted,
        )


@dataclasses.dataclass(frozen=True)
class DriftWindow:
    """Scores and verdicts of one time window (a point of a drift chart)."""

    since: datetime | None
    until: datetime | None
    rows: int
    drifted_share: float | None
    drifted_features: tuple[str, ...] = ()
    scores: dict[str, float | None] = dataclasses.field(default_factory=dict)
    prediction_score: float | None = None
    prediction_drifted: bool | None = None
    multivariate_score: float | None = None  # mean PCA reconstruction error
    multivariate_p_value: float | None = None
    multivariate_drifted: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": _time(self.since),
            "until": _time(self.until),
            "rows": self.rows,
            "drifted_share": self.drifted_share,
            "drifted_features": list(self.drifted_features),
            "scores": dict(self.scores),
            "prediction_score": self.prediction_score,
            "prediction_drifted": self.prediction_drifted,
            "multivariate_score": self.multivariate_score,
            "multivariate_p_value": self.multivariate_p_value,
            "multivariate_drifted": self.multivariate_drifted,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftWindow:
        return cls(
            since=_parse_time(d.get("since")),
            until=_parse_time(d.get("until")),
            rows=int(d["rows"]),
            drifted_share=d.get("drifted_share"),
            drifted_features=tuple(d.get("drifted_features") or ()),
            scores=dict(d.get("scores") or {}),
            prediction_score=d.get("prediction_score"),
            prediction_drifted=d.get("prediction_drifted"),
            multivariate_score=d.get("multivariate_score"),
            multivariate_p_value=d.get("multivariate_p_value"),
            multivariate_drifted=d.get("multivariate_drifted"),
        )


@dataclasses.dataclass(frozen=True)
class AccuracyWindow:
    """The live figure over one time window, from the predictions that got a label."""

    since: datetime | None
    until: datetime | None
    labelled: int
    value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": _time(self.since),
            "until": _time(self.until),
            "labelled": self.labelled,
            "value": _num(self.value),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccuracyWindow:
        return cls(
            _parse_time(d.get("since")), _parse_time(d.get("until")), d["labelled"], d["value"]
        )


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """Live accuracy (classifiers) or MAE (regressors) where feedback labels exist.

    ``reference`` is the figure recorded by the evaluation at push (None if the
    version was pushed without one); ``drop`` is how much worse live is, positive
    when worse, whichever way the metric points.
    """

    metric: str
    greater_is_better: bool
    reference: float | None
    labelled: int
    value: float | None
    windows: tuple[AccuracyWindow, ...] = ()

    @property
    def drop(self) -> float | None:
        if self.reference is None or self.value is None:
            return None
        gap = self.reference - self.value
        return gap if self.greater_is_better else -gap

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "reference": _num(self.reference),
            "labelled": self.labelled,
            "value": _num(self.value),
            "drop": _num(self.drop),
            "windows": [w.to_dict() for w in self.windows],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Accuracy:
        return cls(
            metric=d["metric"],
            greater_is_better=bool(d["greater_is_better"]),
            reference=d.get("reference"),
            labelled=int(d["labelled"]),
            value=d.get("value"),
            windows=tuple(AccuracyWindow.from_dict(w) for w in d.get("windows") or ()),
        )


@dataclasses.dataclass(frozen=True)
class DriftTimeline:
    """A report over the whole period, one window per ``step_seconds``, and accuracy."""

    overall: DriftReport
    step_seconds: int | None = None
    windows: tuple[DriftWindow, ...] = ()
    accuracy: Accuracy | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.overall.to_dict(),
            "step_seconds": self.step_seconds,
            "windows": [w.to_dict() for w in self.windows],
            "accuracy": None if self.accuracy is None else self.accuracy.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftTimeline:
        accuracy = d.get("accuracy")
        return cls(
            overall=DriftReport.from_dict(d),
            step_seconds=d.get("step_seconds"),
            windows=tuple(DriftWindow.from_dict(w) for w in d.get("windows") or ()),
            accuracy=None if accuracy is None else Accuracy.from_dict(accuracy),
        )
