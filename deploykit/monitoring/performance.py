"""Estimated performance of a model's live traffic, beside the realized one where labels exist.

    from deploykit.monitoring.performance import estimated_performance
    result = estimated_performance(reg, "churn", since="2025-01-31", step=3600)
    result.overall.metrics["accuracy"].value, .lower, .upper, .realized

The version judged is production's (else the latest), its calibration evidence the one
its evaluation kept at push (:mod:`deploykit.monitoring.calibration`), its scores and inputs
come from the prediction logs, its labels (for the realized figures) from feedback.
``Registry.estimated_performance``, ``Client.estimated_performance`` and
``GET /v1/models/{name}/estimated`` answer the same.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.monitoring.calibration import CalibrationEvidence
from deploykit.monitoring.cases import Cases, describe, window_cases
from deploykit.monitoring.estimate import (
    MIN_ROWS,
    SUPPORT_THRESHOLD,
    MetricEstimate,
    estimate_classification,
    estimate_regression,
    estimated_metrics,
    outside_share,
    untrusted_reasons,
)

if TYPE_CHECKING:
    from typing import Unpack

    import pyarrow as pa

    from deploykit.monitoring.monitor import LogWindow
    from deploykit.monitoring.periods import Period
    from deploykit.monitoring.profile import ReferenceProfile
    from deploykit.records import ModelVersion
    from deploykit.registry import Registry

__all__ = [
    "EstimatedPerformance",
    "EstimatedWindow",
    "estimate_table",
    "estimated_performance",
    "read_scores_log",
]

HEADLINE = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mae"}


@dataclasses.dataclass(frozen=True)
class EstimatedWindow:
    """One window: each metric's estimate and band (and realized value), and whether to
    believe it (``trusted``; ``reasons`` say why not). ``effective_rows``: how many
    independent rows the band counted (fewer than ``rows`` when rows with identical
    inputs are one case seen again; None: nothing estimated)."""

    since: datetime | None
    until: datetime | None
    rows: int
    labelled: int
    metrics: dict[str, MetricEstimate]
    trusted: bool
    reasons: tuple[str, ...] = ()
    outside_support: float | None = None
    effective_rows: float | None = None

    def rows_text(self) -> str:
        """ "5,000 rows", or "5,000 rows (worth 165 independent)" when repeated cases made the
        band count markedly (5%) fewer rows than the window holds."""
        text = f"{self.rows:,} rows"
        cases = self.effective_rows
        if cases is not None and cases < 0.95 * self.rows:
            text += f" (worth {cases:,.0f} independent)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "rows": self.rows,
            "labelled": self.labelled,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "trusted": self.trusted,
            "reasons": list(self.reasons),
            "outside_support": self.outside_support,
            "effective_rows": self.effective_rows,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatedWindow:
        def when(key: str) -> datetime | None:
            value = d.get(key)
            return None if value is None else datetime.fromisoformat(value)

        support = d.get("outside_support")
        effective = d.get("effective_rows")
        return cls(
            since=when("since"),
            until=when("until"),
            rows=int(d["rows"]),
            labelled=int(d.get("labelled", 0)),
            metrics={k: MetricEstimate.from_dict(v) for k, v in d.get("metrics", {}).items()},
            trusted=bool(d.get("trusted", False)),
            reasons=tuple(d.get("reasons", ())),
            outside_support=None if support is None else float(support),
            effective_rows=None if effective is None else float(effective),
        )


@dataclasses.dataclass(frozen=True)
class EstimatedPerformance:
    """Estimated metrics of one version's traffic over a period, overall and per step.

    ``reference`` holds the metrics measured at push (the evaluation); ``headline`` names
    the metric front ends show first (accuracy, or MAE for regressors); ``calibration``
    says how the scores were calibrated (which map, from how many labelled rows);
    ``repeats`` how the band counted the rows: a case seen again (identical inputs) has
    one label, so its rows count once (``overall.effective_rows``).
    """

    model: str
    version: int
    task: str | None
    metrics: tuple[str, ...]
    headline: str | None
    confidence: float
    reference: dict[str, float]
    overall: EstimatedWindow
    windows: tuple[EstimatedWindow, ...] = ()
    step_seconds: int | None = None
    calibration: str | None = None
    repeats: str | None = None

    @property
    def estimate(self) -> MetricEstimate | None:
        """The headline metric's overall estimate (None when there is none)."""
        if self.headline is None:
            return None
        return self.overall.metrics.get(self.headline)

    def drop(self, metric: str) -> float | None:
        """How much worse the overall estimate of ``metric`` is than at push (positive:
        worse; for MAE/RMSE the rise); None without both figures."""
        estimate = self.overall.metrics.get(metric)
        reference = self.reference.get(metric)
        if estimate is None or estimate.value is None or reference is None:
            return None
        lower_is_better = metric in ("mae", "rmse")
        return estimate.value - reference if lower_is_better else reference - estimate.value

    def __str__(self) -> str:
        head = f"Estimated performance of {self.model}:{self.version} ({self.task or 'unknown'})"
        since, until = self.overall.since, self.overall.until
        if since is not None and until is not None:  # the period read, so no one has to guess
            head += f", {_utc(since)} → {_utc(until)} UTC"
        lines = [head, f"{'metric':<16}{'estimate':>10}{'band':>20}{'realized':>10}{'at push':>10}"]
        for metric in self.metrics:
            m = self.overall.metrics.get(metric, MetricEstimate(None))
            band = "-" if m.lower is None else f"[{m.lower:.4f}, {m.upper:.4f}]"
            cells = [_fmt(m.value), band, _fmt(m.realized), _fmt(self.reference.get(metric))]
            lines.append(f"{metric:<16}{cells[0]:>10}{cells[1]:>20}{cells[2]:>10}{cells[3]:>10}")
        lines.append(
            f"{self.overall.rows} rows, {self.overall.labelled} labelled, "
            f"{self.confidence:.0%} band"
        )
        lines += [text for text, _ in self.notes()]
        return "\n".join(lines)

    def notes(self) -> list[tuple[str, bool]]:
        """The lines every front end shows under the table, each with whether it is a
        warning (a reason not to trust the estimate)."""
        notes = []
        labelled, rows = self.overall.labelled, self.overall.rows
        if 0 < labelled < rows:  # labels from part of the traffic: the two figures differ
            notes.append(
                (
                    f"realized: on the {labelled:,} labelled rows only; the estimate covers "
                    f"all {rows:,}",
                    False,
                )
            )
        if self.calibration:
            notes.append((f"calibration: {self.calibration}", False))
        if self.repeats:
            notes.append((f"rows: {self.repeats}", False))
        if not self.overall.trusted:
            notes += [(f"untrusted: {r}", True) for r in self.overall.reasons]
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "task": self.task,
            "metrics": list(self.metrics),
            "headline": self.headline,
            "confidence": self.confidence,
            "reference": dict(self.reference),
            "overall": self.overall.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "step_seconds": self.step_seconds,
            "calibration": self.calibration,
            "repeats": self.repeats,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatedPerformance:
        return cls(
            model=str(d["model"]),
            version=int(d["version"]),
            task=d.get("task"),
            metrics=tuple(d.get("metrics", ())),
            headline=d.get("headline"),
            confidence=float(d.get("confidence", 0.9)),
            reference={k: float(v) for k, v in (d.get("reference") or {}).items() if v is not None},
            overall=EstimatedWindow.from_dict(d["overall"]),
            windows=tuple(EstimatedWindow.from_dict(w) for w in d.get("windows", ())),
            step_seconds=d.get("step_seconds"),
            calibration=d.get("calibration"),
            repeats=d.get("repeats"),
        )


def _utc(at: datetime) -> str:
    return f"{at.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def evidence_of(record: ModelVersion) -> CalibrationEvidence | None:
    """The calibration evidence the version's evaluation kept at push, if any."""
    data = (record.evaluation or {}).get("evidence")
    return None if not data else CalibrationEvidence.from_dict(data)


def _ranges(profile: ReferenceProfile | None) -> dict[str, tuple[float, float]]:
    if profile is None:
        return {}
    return {
        f.name: (f.min, f.max)
        for f in profile.features
        if f.kind == "numeric" and f.min is not None and f.max is not None
    }


def _input(table: pa.Table, name: str) -> np.ndarray | None:
    from deploykit.monitoring.logs import INPUT

    column = f"{INPUT}{name}"
    if column not in table.column_names:
        return None
    try:
        values = table.column(column).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _realized(
    evidence: CalibrationEvidence,
    proba: np.ndarray | None,
    predictions: np.ndarray,
    labels: np.ndarray,
) -> dict[str, float]:
    """The metrics of the labelled rows of a window (``labels`` None where unlabelled)."""
    from sklearn import metrics as skm

    has = np.array([v is not None for v in labels], dtype=bool)
    if not has.any():
        return {}
    if evidence.task == "regression":
        true = np.asarray(labels[has], dtype=np.float64)
        pred = np.asarray(predictions[has], dtype=np.float64)
        err = true - pred
        return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt(np.mean(err**2)))}
    true = np.array([_label_text(v) for v in labels[has]])
    pred = np.array([_label_text(v) for v in predictions[has]])
    out = {"accuracy": float(np.mean(true == pred))}
    classes = list(evidence.classes)
    if evidence.task == "binary":
        positive = classes[1]
        kw = {"pos_label": positive, "zero_division": 0.0}
        out["precision"] = float(skm.precision_score(true, pred, **kw))
        out["recall"] = float(skm.recall_score(true, pred, **kw))
        out["f1"] = float(skm.f1_score(true, pred, **kw))
        if proba is not None and len(set(true)) == 2 and np.isfinite(proba[has]).all():
            out["roc_auc"] = float(skm.roc_auc_score(true == positive, proba[has][:, 1]))
        return out
    kw = {"labels": classes, "average": "macro", "zero_division": 0.0}
    out["precision_macro"] = float(skm.precision_score(true, pred, **kw))
    out["recall_macro"] = float(skm.recall_score(true, pred, **kw))
    out["f1_macro"] = float(skm.f1_score(true, pred, **kw))
    if proba is not None and set(true) == set(classes) and np.isfinite(proba[has]).all():
        out["roc_auc"] = float(
            skm.roc_auc_score(true, proba[has], labels=classes, multi_class="ovr")
        )
    return out


def _label_text(value: Any) -> str:
    # 1, 1.0 and "1" are one class, as in the accuracy of the drift view
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _window(
    evidence: CalibrationEvidence | None,
    table: pa.Table,
    rows: slice,
    *,
    key: str,
    ranges: Mapping[str, tuple[float, float]],
    labels: np.ndarray | None,
    confidence: float,
    support_threshold: float,
    since: datetime | None,
    until: datetime | None,
    task: str | None,
) -> tuple[EstimatedWindow, str | None]:
    """One window's estimate, and how its band counted the rows (in words)."""
    from deploykit.monitoring.logs import PROBABILITY

    part = table.slice(rows.start, rows.stop - rows.start)
    n = part.num_rows
    names = estimated_metrics(task or "")
    inputs = {name: v for name in ranges if (v := _input(part, name)) is not None}
    outside = outside_share(ranges, inputs) if inputs else None
    part_labels = None if labels is None else labels[rows]
    labelled = 0 if part_labels is None else int(sum(v is not None for v in part_labels))
    if evidence is None or n == 0:
        reasons = untrusted_reasons(evidence=evidence, rows=n, outside=outside)
        empty = {m: MetricEstimate(None) for m in names}
        window = EstimatedWindow(since, until, n, labelled, empty, False, tuple(reasons), outside)
        return window, None
    predictions = part.column("prediction").to_numpy(zero_copy_only=False)
    proba = None
    scored = n
    logged = _inputs(part, evidence)
    cases: Cases | None = None
    if evidence.task == "regression":
        X = np.column_stack(
            [
                v if (v := _input(part, c)) is not None else np.full(n, np.nan)
                for c in evidence.columns
            ]
        )
        cases = window_cases(evidence, inputs=logged)
        metrics = estimate_regression(
            evidence,
            X,
            np.asarray(predictions, dtype=np.float64),
            key=key,
            cases=cases,
            confidence=confidence,
        )
    else:
        columns = [f"{PROBABILITY}{c}" for c in evidence.classes]
        if all(c in part.column_names for c in columns):
            proba = np.column_stack(
                [
                    np.asarray(part.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)
                    for c in columns
                ]
            )
            scored = int(np.isfinite(proba).all(axis=1).sum())
            text = np.asarray(predictions).astype(str)
            cases = window_cases(evidence, inputs=logged, scores=proba)
            metrics = estimate_classification(
                evidence, proba, text, cases=cases, confidence=confidence
            )
        else:
            scored = 0
            metrics = {m: MetricEstimate(None) for m in names}
    if part_labels is not None and labelled:
        realized = _realized(evidence, proba, np.asarray(predictions, dtype=object), part_labels)
        metrics = {m: dataclasses.replace(e, realized=realized.get(m)) for m, e in metrics.items()}
    used = n if evidence.task == "regression" else scored
    reasons = untrusted_reasons(
        evidence=evidence, rows=used, outside=outside, support_threshold=support_threshold
    )
    if used < n:
        reasons.insert(
            0,
            f"{n - used} of {n} rows were logged without class probabilities "
            "(the server logs them for classifiers with predict_proba)",
        )
    trusted = used >= MIN_ROWS and not [r for r in reasons if "without class" not in r]
    if cases is not None and cases.rows != used:  # rows without scores are not counted
        cases = (
            cases.subset(np.asarray(np.isfinite(proba).all(axis=1))) if proba is not None else None
        )
    effective = (cases.effective_rows if cases is not None else float(used)) if used else None
    window = EstimatedWindow(
        since, until, n, labelled, metrics, trusted, tuple(reasons), outside, effective
    )
    by = "inputs" if logged is not None or evidence.task == "regression" else "scores"
    return window, describe(evidence, cases, used, key=by) if used else None


def _inputs(table: pa.Table, evidence: CalibrationEvidence) -> Any:
    """The window's logged inputs, the evaluation's columns in its order (a DataFrame),
    or None when any of them was not logged. An array model's evaluation names its
    columns by position, its log maybe by the signature's names: as many logged input
    columns as the evaluation had are taken for the same inputs."""
    from deploykit.monitoring.logs import INPUT

    columns = [f"{INPUT}{c}" for c in evidence.input_columns]
    if not columns:
        return None
    if not all(c in table.column_names for c in columns):
        logged = [c for c in table.column_names if c.startswith(INPUT)]
        if len(logged) != len(columns):
            return None
        columns = logged
    return table.select(columns).to_pandas()


def estimate_table(
    record: ModelVersion,
    profile: ReferenceProfile | None,
    table: pa.Table,
    span: Period,
    *,
    labels: Mapping[str, Any] | None = None,
    confidence: float = 0.9,
    support_threshold: float = SUPPORT_THRESHOLD,
) -> EstimatedPerformance:
    """Estimated performance of ``record`` over the logged rows of ``table`` in ``span``."""
    from deploykit.monitoring.accuracy import label_rows
    from deploykit.monitoring.timeline import epoch_us

    evidence = evidence_of(record)
    task = evidence.task if evidence is not None else _task(record, profile)
    names = estimated_metrics(task or "")
    reference = {m: float(record.metrics[m]) for m in names if record.metrics.get(m) is not None}
    row_labels = None
    if labels and table.num_rows and "request_id" in table.column_names:
        ids = table.column("request_id").to_numpy(zero_copy_only=False)
        row_labels = label_rows(ids, labels)
    # rows in time order, so that every window is one slice
    if table.num_rows:
        stamps = epoch_us(table)
        order = np.argsort(stamps, kind="stable")
        table = table.take(order)
        stamps = stamps[order]
        if row_labels is not None:
            row_labels = row_labels[order]
    else:
        stamps = np.zeros(0, dtype=np.int64)
    window = functools.partial(
        _window,
        evidence,
        table,
        key=f"{record.model}:{record.version}:{record.digest}",
        ranges=_ranges(profile),
        labels=row_labels,
        confidence=confidence,
        support_threshold=support_threshold,
        task=task,
    )
    overall, repeats = window(slice(0, table.num_rows), since=span.since, until=span.until)
    windows = []
    edges = span.edges
    if edges:
        bounds = np.array([round(e.timestamp() * 1_000_000) for e in edges], dtype=np.int64)
        cuts = np.searchsorted(stamps, bounds, side="left")
        for i in range(len(edges) - 1):
            rows = slice(int(cuts[i]), int(cuts[i + 1]))
            windows.append(window(rows, since=edges[i], until=edges[i + 1])[0])
    return EstimatedPerformance(
        model=record.model,
        version=record.version,
        task=task,
        metrics=names,
        headline=HEADLINE.get(task or ""),
        confidence=confidence,
        reference=reference,
        overall=overall,
        windows=tuple(windows),
        step_seconds=span.step,
        calibration=None if evidence is None else evidence.calibration,
        repeats=repeats,
    )


def _task(record: ModelVersion, profile: ReferenceProfile | None) -> str | None:
    """The task of a version without evidence: from its evaluation, else its predictions."""
    task = (record.evaluation or {}).get("task")
    if task is not None or profile is None or profile.prediction is None:
        return task
    prediction = profile.prediction
    if prediction.kind != "categorical":
        return "regression"
    return "binary" if len(prediction.frequencies or {}) <= 2 else "multiclass"


def read_scores_log(
    registry: Registry, record: ModelVersion, profile: ReferenceProfile | None, span: Period
) -> pa.Table:
    """The logged columns an estimate of ``record`` over ``span`` reads (scores, inputs)."""
    from deploykit.monitoring.monitor import read_version_log

    return read_version_log(registry, record, span, _log_columns(record, profile))


def _log_columns(record: ModelVersion, profile: ReferenceProfile | None) -> list[str]:
    from deploykit.monitoring.logs import INPUT, PROBABILITY

    evidence = evidence_of(record)
    columns = ["timestamp", "request_id", "prediction"]
    if evidence is not None:
        columns += [f"{PROBABILITY}{c}" for c in evidence.classes]
        columns += [f"{INPUT}{c}" for c in (*evidence.columns, *evidence.input_columns)]
    if profile is not None:  # every input: rows whose inputs are identical are one case
        columns += [f"{INPUT}{f.name}" for f in profile.features]
    columns += [f"{INPUT}{name}" for name in _ranges(profile)]
    return list(dict.fromkeys(columns))


def estimated_performance(
    registry: Registry,
    name: str,
    *,
    confidence: float = 0.9,
    authenticated_only: bool = False,
    **window: Unpack[LogWindow],
) -> EstimatedPerformance:
    """Estimated (and, where feedback exists, realized) metrics of ``name``'s logged
    traffic in [since, until) (the last 24 h by default), overall and per ``step`` seconds.

    ``authenticated_only`` counts only the labels a token vouched for (what rules use).
    """
    from deploykit.errors import InvalidInputError
    from deploykit.monitoring.monitor import labels, monitored_window

    ok = isinstance(confidence, float | int) and not isinstance(confidence, bool)
    if not (ok and 0.5 <= confidence < 1):
        raise InvalidInputError(
            "The 'confidence' parameter must be a number in [0.5, 1), such as 0.9. "
            f"Got {confidence!r} instead."
        )
    span, record = monitored_window(registry, name, **window)
    profile = registry.profile(record.model, record.version)
    table = read_scores_log(registry, record, profile, span)
    found = (
        labels(registry, record.model, span.since, authenticated_only=authenticated_only)
        if table.num_rows
        else {}
    )
    return estimate_table(record, profile, table, span, labels=found, confidence=float(confidence))


def window_metrics(result: EstimatedPerformance) -> Sequence[str]:
    """The metrics a chart of ``result`` draws, headline first."""
    first = [result.headline] if result.headline else []
    return [*first, *(m for m in result.metrics if m not in first)]
