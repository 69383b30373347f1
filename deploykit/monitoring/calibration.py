"""Calibration evidence: what estimating a metric without labels needs, kept at push.

:func:`build_evidence` runs inside :func:`deploykit.evaluate` on the labelled data it
scores, and the result travels in the evaluation report (so in the version's metadata,
in the embedded registry and over HTTP alike). JSON only, tens of kilobytes at most:

- classifiers: one calibration map per class (binary: the positive class), from the
  model's score to the observed frequency of the class on the evaluation rows. Isotonic
  regression (centered: a straight line between the blocks' mean scores) unless a
  simpler map beats it by 5-fold cross-validated Brier score beyond noise, as Platt
  scaling (a logistic fit on the score's logit) does on a small evaluation, where
  isotonic overfits. The isotonic blocks, with the rows behind each, also say how
  uncertain the map is (a block of m rows with k hits: Beta(k + 1/2, m - k + 1/2) for
  its level, never certain even with no hit), whichever map is used: a small
  evaluation gives few rows per block, so wide bands later;
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

from deploykit.monitoring.cases import repeats, row_keys

__all__ = ["CalibrationEvidence", "CalibrationMap", "build_evidence"]

_MAX_POINTS = 400  # points (isotonic blocks) kept per calibration map
_REGRESSION_ROWS = 2000  # evaluation rows kept for the error model, at most ...
_REGRESSION_CELLS = 30_000  # ... and at most this many numbers (it rides in metadata)
KINDS = ("identity", "platt", "isotonic")  # simplest first
_LABELS = {"identity": "scores as they are", "platt": "Platt scaling", "isotonic": "isotonic"}
_FOLDS = 5
_SIGNIFICANT = 1.645  # one-sided 5%: a simpler map must beat isotonic by this many SE
_ROWS_FOR_CHOICE = 20_000  # the map is chosen on at most this many rows
_EPS = 1e-6  # scores are clipped to [eps, 1 - eps] before a logit
_LOGIT_GRID = np.linspace(-14.0, 14.0, 281)  # where a Platt map is tabulated


@dataclasses.dataclass(frozen=True)
class CalibrationMap:
    """A monotone map from a raw score to a probability (piecewise linear through
    ``(x, y)``), with the evaluation rows behind each point."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    counts: tuple[int, ...]  # evaluation rows in the level of each point
    kind: str = "isotonic"

    @classmethod
    def fit(cls, scores: np.ndarray, hits: np.ndarray, kind: str = "isotonic") -> CalibrationMap:
        scores = np.asarray(scores, dtype=np.float64)
        hits = np.asarray(hits, dtype=np.float64)
        n = len(scores)
        if kind == "identity":
            return cls((0.0, 1.0), (0.0, 1.0), (n, n), kind)
        if kind == "platt":
            a, b = _platt(_logit(scores), hits, np.ones(n))
            x = np.r_[0.0, _expit(_LOGIT_GRID), 1.0]
            y = _expit(a * _logit(x) + b)
            return cls(tuple(x.tolist()), tuple(y.tolist()), (n,) * len(x), kind)
        u, inverse = np.unique(scores, return_inverse=True)
        w = np.bincount(inverse, minlength=len(u)).astype(np.float64)
        x, y, m = _isotonic(u, np.bincount(inverse, weights=hits, minlength=len(u)), w)
        if len(x) > _MAX_POINTS:  # neighbouring blocks merged: their rows and hits add up
            group = np.repeat(
                np.arange(_MAX_POINTS),
                np.diff(np.linspace(0, len(x), _MAX_POINTS + 1).round().astype(int)),
            )
            total = np.bincount(group, weights=m)
            x = np.bincount(group, weights=m * x) / total
            y = np.bincount(group, weights=m * y) / total
            m = total
        return cls(tuple(x.tolist()), tuple(y.tolist()), tuple(int(v) for v in m), kind)

    @functools.cached_property
    def blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An isotonic map's uncertainty: (its points, the block of each point, the
        variance of each block's level). Consecutive points of one level are one block
        (a step function keeps two per level); a level y of m rows is the mean of
        Beta(k + 1/2, m - k + 1/2), whose variance is y (1 - y) / (m + 2)."""
        y = np.asarray(self.y)
        m = np.asarray(self.counts, dtype=np.float64)
        new = np.r_[True, (y[1:] != y[:-1]) | (m[1:] != m[:-1])]
        block = np.cumsum(new) - 1
        level, rows = y[new], m[new]
        return np.asarray(self.x), block, level * (1.0 - level) / (np.maximum(rows, 0.0) + 2.0)

    @functools.cached_property
    def _xy(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.x), np.asarray(self.y)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, *self._xy)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"x": list(self.x), "y": list(self.y), "counts": list(self.counts)}
        d["kind"] = self.kind
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationMap:
        return cls(
            tuple(float(v) for v in d["x"]),
            tuple(float(v) for v in d["y"]),
            tuple(int(v) for v in d["counts"]),
            str(d.get("kind", "isotonic")),
        )


@dataclasses.dataclass(frozen=True)
class CalibrationEvidence:
    """What :mod:`deploykit.monitoring.estimate` needs, from one labelled evaluation.

    ``maps`` calibrate the scores; ``isotonic`` holds the isotonic maps whose blocks
    measure their uncertainty when ``maps`` are of another kind (empty: ``maps`` are
    isotonic, as in evidence kept before the choice existed).
    """

    task: str  # "binary", "multiclass" or "regression"
    rows: int
    classes: tuple[str, ...] = ()  # as in the log's probability.<class> columns
    maps: tuple[CalibrationMap, ...] = ()  # binary: the positive class only
    columns: tuple[str, ...] = ()  # regression: the numeric inputs kept
    X: tuple[tuple[float | None, ...], ...] = ()
    prediction: tuple[float, ...] = ()
    abs_error: tuple[float, ...] = ()
    isotonic: tuple[CalibrationMap, ...] = ()
    brier: Mapping[str, float] = dataclasses.field(default_factory=dict)  # cross-validated
    # how often the evaluation's rows (distinct cases) share inputs, or scores, by chance:
    # whether identical rows in a window are the same case seen again (monitoring.cases)
    input_columns: tuple[str, ...] = ()  # the inputs hashed, as the log names them
    input_repeats: int | None = None  # rows repeating an earlier row's inputs (None: unknown)
    score_repeats: int | None = None  # ... an earlier row's scores (classifiers)

    @property
    def calibration(self) -> str | None:
        """How the scores are calibrated, in words (None for regressors)."""
        if self.task == "regression" or not self.maps:
            return None
        kind = self.maps[0].kind
        text = f"{_LABELS.get(kind, kind)}, fitted on {self.rows} labelled rows"
        why = _why(kind, self.brier)
        return f"{text} ({why})" if why else text

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
            if self.isotonic:
                d["isotonic"] = [m.to_dict() for m in self.isotonic]
            if self.brier:
                d["brier"] = dict(self.brier)
        if self.input_columns:
            d["input_columns"] = list(self.input_columns)
        for key in ("input_repeats", "score_repeats"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
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
            isotonic=tuple(CalibrationMap.from_dict(m) for m in d.get("isotonic", ())),
            brier={str(k): float(v) for k, v in (d.get("brier") or {}).items()},
            input_columns=tuple(str(c) for c in d.get("input_columns", ())),
            input_repeats=None if d.get("input_repeats") is None else int(d["input_repeats"]),
            score_repeats=None if d.get("score_repeats") is None else int(d["score_repeats"]),
        )

    def matrix(self) -> np.ndarray:
        """The kept evaluation rows as floats (None as NaN)."""
        return np.array(
            [[math.nan if v is None else v for v in row] for row in self.X], dtype=np.float64
        ).reshape(len(self.X), len(self.columns))

    @property
    def uncertain_maps(self) -> tuple[CalibrationMap, ...]:
        """The isotonic maps whose blocks measure the calibration's uncertainty."""
        return self.isotonic or self.maps


def _why(kind: str, brier: Mapping[str, float]) -> str | None:
    """Why ``kind`` calibrates the scores, from the cross-validated Brier scores (lower is
    better) :func:`_choose` decided on: isotonic is the default, a simpler map has to beat
    it beyond noise. None without the scores (evidence kept before the choice existed)."""
    cv = f"{_FOLDS}-fold cross-validated Brier score"
    if not brier:
        return None
    iso = brier.get("isotonic")
    if iso is None:  # not evidence _choose wrote: the figures alone
        figures = ", ".join(f"{_LABELS.get(k, k)} {v:.4f}" for k, v in brier.items())
        return f"{cv}s, lower is better: {figures}"
    others = [(_LABELS.get(k, k), v) for k, v in brier.items() if k not in (kind, "isotonic")]
    listed = " and ".join(f"{label} {v:.4f}" for label, v in others)
    if kind == "isotonic":
        if not others:
            return f"the default; {cv} {iso:.4f}"
        verb = "are" if len(others) > 1 else "is"
        return (
            f"the default: the {cv}{'s' if len(others) > 1 else ''} of {listed} {verb} not "
            f"better beyond noise than isotonic's {iso:.4f}"
        )
    own = brier.get(kind)
    if own is None:
        return None
    gain = iso - own
    text = (
        f"chosen over the default, isotonic: its {cv} {own:.4f} is lower than isotonic's "
        f"{iso:.4f} by {gain:.4f}"
    )
    if iso > 0:
        text += f" ({gain / iso:.0%})"
    text += ", beyond noise"
    rest = ", ".join(f"{label}: {v:.4f}" for label, v in others)
    return f"{text}; {rest}" if others else text


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
        evidence = _regression(y, y_pred, X, seed)
        return None if evidence is None else dataclasses.replace(evidence, **_input_repeats(X))
    if proba is None or classes is None:
        return None
    proba = np.asarray(proba, dtype=np.float64)
    if not np.isfinite(proba).all():
        raise ValueError("the model's scores contain NaN or infinity")
    names = tuple(str(_scalar(c)) for c in classes)
    known = np.asarray(classes)
    y = np.asarray(y)
    if task == "binary":
        scores, hits = proba[:, 1:2], (y == known[1])[:, None]
    else:
        scores, hits = proba, y[:, None] == known[None, :]
    hits = hits.astype(np.float64)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(y))
    if len(rows) > _ROWS_FOR_CHOICE:  # plenty to tell the kinds of map apart
        rows = np.sort(rng.choice(len(y), size=_ROWS_FOR_CHOICE, replace=False))
    brier = _cross_validated_brier(scores[rows], hits[rows], task == "binary", rng)
    kind = _choose(brier)
    isotonic = tuple(CalibrationMap.fit(scores[:, j], hits[:, j]) for j in range(hits.shape[1]))
    maps = (
        isotonic
        if kind == "isotonic"
        else tuple(CalibrationMap.fit(scores[:, j], hits[:, j], kind) for j in range(len(isotonic)))
    )
    return CalibrationEvidence(
        task=task,
        rows=len(y),
        classes=names,
        maps=maps,
        isotonic=() if kind == "isotonic" else isotonic,
        brier={k: round(float(v.mean()), 6) for k, v in brier.items()},
        score_repeats=repeats(row_keys(proba)),
        **_input_repeats(X),
    )


def _input_repeats(X: Any) -> dict[str, Any]:
    """The evaluation inputs' column names (as the prediction log names them) and how many
    rows repeat an earlier row's inputs; nothing when the inputs cannot be hashed."""
    if X is None:
        return {}
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            return {}
        frame = pd.DataFrame(array)
    found = repeats(row_keys(frame))
    if found is None:
        return {}
    return {"input_columns": tuple(str(c) for c in frame.columns), "input_repeats": found}


def _logit(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, _EPS, 1.0 - _EPS)
    return np.log(s) - np.log1p(-s)


def _expit(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _platt(t: np.ndarray, hits: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(hit) = expit(a * t + b), weighted maximum likelihood by Newton's
    method; a ridge of one pseudo-row pulls towards the identity (a=1, b=0), so that
    separable or one-class data stay finite."""
    a, b = 1.0, 0.0
    ridge = 1.0
    tw, t2w, sw = t * w, t * t * w, float(w.sum())
    for _ in range(50):
        p = _expit(a * t + b)
        r = hits * w - p * w
        v = p * (1.0 - p)
        grad = np.array([r @ t - ridge * (a - 1.0), r.sum() - ridge * b])
        h_ab = float(v @ tw)
        hess = np.array([[float(v @ t2w) + ridge, h_ab], [h_ab, float(v @ w) + ridge]])
        step = np.linalg.solve(hess, grad)
        step *= min(1.0, 5.0 / max(float(np.abs(step).max()), 1e-300))  # no wild first steps
        a, b = a + float(step[0]), b + float(step[1])
        if np.abs(step).max() < 1e-9 * (1.0 + abs(a) + abs(b)) or sw == 0:
            break
    return a, b


def _isotonic(
    u: np.ndarray, hit_sums: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isotonic fit at the distinct scores ``u`` (``w`` rows each, ``hit_sums`` hits), as
    the points of a piecewise-linear map: (scores, calibrated values, rows behind each).

    Centered isotonic regression (Oron & Flournoy, 2017): a block of pool-adjacent-
    violators is only right about the mean score of its rows, so each block is one
    point there, joined by straight lines; the step function of plain isotonic
    regression flattens the true curve inside every block, which biases an expected ROC
    AUC down. A level of 0 or 1 from a few dozen rows is overconfident: half a
    pseudo-row each way keeps it off the ends."""
    from sklearn.isotonic import isotonic_regression

    fitted = isotonic_regression(hit_sums / w, sample_weight=w, y_min=0.0, y_max=1.0)
    new = np.r_[True, fitted[1:] != fitted[:-1]]
    starts = np.flatnonzero(new)
    m = np.add.reduceat(w, starts)
    level = fitted[starts]
    level = (level * m + 0.5) / (m + 1.0)
    centre = np.add.reduceat(w * u, starts) / m
    return centre, level, m


def _predict(kind: str, scores: np.ndarray, hits: np.ndarray, w: np.ndarray, at: np.ndarray):
    """Fit a map of ``kind`` on weighted rows and evaluate it at ``at``."""
    if kind == "identity":
        return np.clip(at, 0.0, 1.0)
    if kind == "platt":
        a, b = _platt(_logit(scores), hits, w)
        return _expit(a * _logit(at) + b)
    used = w > 0
    u, inverse = np.unique(scores[used], return_inverse=True)
    wu = np.bincount(inverse, weights=w[used], minlength=len(u))
    x, y, _ = _isotonic(u, np.bincount(inverse, weights=(hits * w)[used], minlength=len(u)), wu)
    return np.interp(at, x, y)


def _normalize(cal: np.ndarray, binary: bool) -> np.ndarray:
    if binary:
        return cal
    sums = cal.sum(axis=1, keepdims=True)
    uniform = np.full_like(cal, 1.0 / cal.shape[1])
    return np.divide(cal, sums, out=uniform, where=sums > 0)


def _cross_validated_brier(
    scores: np.ndarray, hits: np.ndarray, binary: bool, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Each kind of map's Brier score on every row, from maps fitted on the other folds
    (multiclass: per-class maps, normalized, summed over classes)."""
    n = len(scores)
    folds = np.array_split(rng.permutation(n), min(_FOLDS, n))
    out = {}
    for kind in KINDS:
        cal = np.empty_like(scores)
        for test in folds:
            train = np.ones(n, dtype=bool)
            train[test] = False
            if not train.any():
                cal[test] = scores[test]
                continue
            w = train.astype(np.float64)
            for j in range(scores.shape[1]):
                cal[test, j] = _predict(kind, scores[:, j], hits[:, j], w, scores[test, j])
        out[kind] = ((_normalize(cal, binary) - hits) ** 2).sum(axis=1)
    return out


def _choose(brier: Mapping[str, np.ndarray]) -> str:
    """Isotonic, unless a simpler map's cross-validated Brier score is lower beyond
    noise (one-sided paired test at 5%): then the best of those.

    Isotonic regression assumes nothing about the curve's shape, and its variance (the
    price of a small evaluation) is measured by the bootstrap and widens the band. A
    parametric map's misfit would be a bias no band shows: it has to earn its place,
    which it does when isotonic overfits a small evaluation."""
    better = []
    for kind in KINDS:
        d = brier[kind] - brier["isotonic"]
        se = float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.inf
        if kind != "isotonic" and float(d.mean()) < -_SIGNIFICANT * se:
            better.append(kind)
    return min(better, key=lambda k: float(brier[k].mean())) if better else "isotonic"


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
