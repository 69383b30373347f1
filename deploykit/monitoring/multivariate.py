"""Multivariate drift: a change in how features move together, which no marginal shows.

At push, :meth:`PCAReference.fit` standardizes the numeric columns of the training data,
keeps the principal components that explain ``variance`` of it (65% by default, as
NannyML), and measures the reconstruction error (Euclidean distance between a row and
its projection back from those components) on rows the components were *not* fitted on,
so the reference error is not flattered. It keeps the per-row mean and spread of that
error, the mean error of reference chunks (the band a chart draws) and a small joint
sample of rows for the optional domain classifier.

On live traffic, :func:`reconstruction_drift` computes the mean error of a window and a
one-sided p-value: under no drift the mean of ``n`` row errors is close to normal with
the reference mean and ``std / sqrt(n)`` (plus the reference mean's own uncertainty).
Two features whose correlation flips sign leave both marginals as they were, yet their
rows leave the plane the components span, and the error rises.

Pure numpy; serializes to JSON (no pickles). Categorical columns are left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MultivariateDrift",
    "PCAReference",
    "domain_classifier_auc",
    "reconstruction_drift",
]

VARIANCE = 0.65  # share of variance the kept components explain (NannyML's default)
ALPHA = 0.01  # p-value under which a window is reported as drifted
_FIT_ROWS = 20_000  # rows the components are fitted on, at most (a sample of X)
_HELD_ROWS = 100_000  # held-out rows the reference error is measured on, at most
_SAMPLE_ROWS = 500  # joint reference rows kept for the domain classifier
_CHUNK = 100_000  # rows standardized at once: bounds memory on 1M x 50


@dataclasses.dataclass(frozen=True)
class PCAReference:
    """The principal components of the training data and its reconstruction error."""

    columns: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]  # k rows of len(columns), orthonormal
    error_mean: float  # per-row reconstruction error on held-out reference rows
    error_std: float
    error_rows: int
    chunk_errors: tuple[float, ...] = ()  # mean error of held-out reference chunks
    chunk_size: int = 0
    sample: tuple[tuple[float | None, ...], ...] = ()  # joint rows, for the domain classifier

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        columns: Sequence[str],
        *,
        variance: float = VARIANCE,
        seed: int = 0,
    ) -> PCAReference | None:
        """The reference of numeric matrix ``X`` (rows x ``columns``); None when there is
        too little to fit (fewer than 2 columns or 40 complete rows)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < 2:
            return None
        rng = np.random.default_rng(seed)
        X = np.where(np.isfinite(X), X, np.nan)  # an infinite value is no position in space
        present = np.isfinite(X).sum(axis=0) > 0
        if present.sum() < 2:
            return None
        mean, scale = np.full(X.shape[1], np.nan), np.full(X.shape[1], np.nan)
        mean[present] = np.nanmean(X[:, present], axis=0)
        scale[present] = np.nanstd(X[:, present], axis=0)
        keep = np.isfinite(mean) & np.isfinite(scale) & (scale > 0)
        if keep.sum() < 2:
            return None
        X, mean, scale = X[:, keep], mean[keep], scale[keep]
        columns = [c for c, k in zip(columns, keep, strict=True) if k]
        Z = np.nan_to_num((X - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
        if len(Z) < 40:
            return None
        order = rng.permutation(len(Z))
        half = len(Z) // 2
        fit_rows, held = Z[order[:half][:_FIT_ROWS]], Z[order[half:][:_HELD_ROWS]]
        _, s, vt = np.linalg.svd(fit_rows - fit_rows.mean(axis=0), full_matrices=False)
        explained = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-300)
        k = int(np.searchsorted(explained, variance) + 1)
        k = max(1, min(k, Z.shape[1] - 1))
        components = vt[:k]
        errors = _errors(held, components)
        chunk = max(20, len(errors) // 20)
        chunks = [float(errors[i : i + chunk].mean()) for i in range(0, len(errors), chunk)]
        chunks = [c for i, c in enumerate(chunks) if (i + 1) * chunk <= len(errors)] or chunks
        sample = X[order[: min(_SAMPLE_ROWS, len(X))]]
        return cls(
            columns=tuple(columns),
            mean=tuple(mean.tolist()),
            scale=tuple(scale.tolist()),
            components=tuple(tuple(row) for row in components.tolist()),
            error_mean=float(errors.mean()),
            error_std=float(errors.std()),
            error_rows=len(errors),
            chunk_errors=tuple(chunks),
            chunk_size=chunk,
            sample=tuple(tuple(_finite(v) for v in row) for row in sample.tolist()),
        )

    def errors(self, X: np.ndarray) -> np.ndarray:
        """Per-row reconstruction error of ``X`` (rows x ``columns``, NaN = the mean)."""
        X = np.asarray(X)
        mean = np.asarray(self.mean, dtype=np.float32)
        scale = np.asarray(self.scale, dtype=np.float32)
        comps = np.asarray(self.components, dtype=np.float32)
        out = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), _CHUNK):
            part = np.asarray(X[start : start + _CHUNK], dtype=np.float32)
            Z = (part - mean) / scale
            np.nan_to_num(Z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            out[start : start + _CHUNK] = _errors(Z, comps)
        return out

    @property
    def band(self) -> tuple[float, float]:
        """(lower, upper): the mean of the reference chunks' errors +- 3 of their std."""
        if len(self.chunk_errors) < 2:
            return (self.error_mean, self.error_mean)
        c = np.asarray(self.chunk_errors)
        return (float(c.mean() - 3 * c.std(ddof=1)), float(c.mean() + 3 * c.std(ddof=1)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "pca",
            "columns": list(self.columns),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "components": [list(r) for r in self.components],
            "error_mean": self.error_mean,
            "error_std": self.error_std,
            "error_rows": self.error_rows,
            "chunk_errors": list(self.chunk_errors),
            "chunk_size": self.chunk_size,
            "sample": [list(r) for r in self.sample],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PCAReference:
        def floats(values: Any) -> tuple[float, ...]:
            return tuple(float(v) if v is not None else math.nan for v in values)

        return cls(
            columns=tuple(str(c) for c in d["columns"]),
            mean=floats(d["mean"]),
            scale=floats(d["scale"]),
            components=tuple(floats(r) for r in d["components"]),
            error_mean=float(d["error_mean"]),
            error_std=float(d["error_std"]),
            error_rows=int(d["error_rows"]),
            chunk_errors=floats(d.get("chunk_errors", ())),
            chunk_size=int(d.get("chunk_size", 0)),
            sample=tuple(tuple(floats(r)) for r in d.get("sample", ())),
        )


@dataclasses.dataclass(frozen=True)
class MultivariateDrift:
    """The multivariate verdict on one window of traffic.

    ``statistic`` is the window's mean reconstruction error, ``reference`` the reference's,
    ``band`` the reference chunks' mean +- 3 std, ``p_value`` one-sided (the error rose),
    ``drifted`` = ``p_value < alpha``. ``domain_auc`` is the cross-validated ROC AUC of a
    classifier telling reference rows from these (0.5: indistinguishable), when asked for.
    """

    method: str
    rows: int
    statistic: float
    reference: float
    band: tuple[float, float]
    p_value: float
    alpha: float
    drifted: bool
    columns: tuple[str, ...]
    domain_auc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        d["columns"] = list(self.columns)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MultivariateDrift:
        band = d.get("band") or (math.nan, math.nan)
        return cls(
            method=str(d["method"]),
            rows=int(d["rows"]),
            statistic=float(d["statistic"]),
            reference=float(d["reference"]),
            band=(float(band[0]), float(band[1])),
            p_value=float(d["p_value"]),
            alpha=float(d["alpha"]),
            drifted=bool(d["drifted"]),
            columns=tuple(d.get("columns", ())),
            domain_auc=None if d.get("domain_auc") is None else float(d["domain_auc"]),
        )


def reconstruction_drift(
    reference: PCAReference,
    X: np.ndarray,
    *,
    alpha: float = ALPHA,
    domain_classifier: bool = False,
) -> MultivariateDrift:
    """Judge ``X`` (rows x ``reference.columns``) against ``reference``."""
    from scipy.stats import norm

    errors = reference.errors(X)
    n = len(errors)
    statistic = float(errors.mean()) if n else math.nan
    # the window mean's spread, and that of the reference mean it is compared with
    se = reference.error_std * math.sqrt(1.0 / max(n, 1) + 1.0 / max(reference.error_rows, 1))
    p = 1.0 if n == 0 or se <= 0 else float(norm.sf((statistic - reference.error_mean) / se))
    auc = domain_classifier_auc(reference, X) if domain_classifier and n else None
    return MultivariateDrift(
        method="pca",
        rows=n,
        statistic=statistic,
        reference=reference.error_mean,
        band=reference.band,
        p_value=p,
        alpha=alpha,
        drifted=bool(n > 0 and p < alpha),
        columns=reference.columns,
        domain_auc=auc,
    )


def domain_classifier_auc(reference: PCAReference, X: np.ndarray, *, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a gradient-boosted classifier that tells the reference's
    joint sample from (a sample of as many rows of) ``X``: 0.5 means no drift it can see."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    ref = np.array(
        [[math.nan if v is None else v for v in row] for row in reference.sample], dtype=np.float64
    )
    X = np.asarray(X, dtype=np.float64)
    if len(ref) < 10 or len(X) < 10:
        return math.nan
    rng = np.random.default_rng(seed)
    cur = X[rng.choice(len(X), size=min(len(X), len(ref)), replace=False)]
    data = np.vstack([ref, cur])
    target = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=seed)
    with threadpool_limits(1):  # a small fit: no OpenMP pool to oversubscribe a busy host
        scores = cross_val_score(model, data, target, cv=3, scoring="roc_auc")
    return float(np.mean(scores))


def _errors(Z: np.ndarray, components: np.ndarray) -> np.ndarray:
    # |z - z V'V|^2 = |z|^2 - |z V'|^2 for orthonormal rows V: one small matrix product
    projected = Z @ components.T
    sq = np.einsum("ij,ij->i", Z, Z) - np.einsum("ij,ij->i", projected, projected)
    return np.sqrt(np.maximum(sq, 0.0)).astype(np.float64, copy=False)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
