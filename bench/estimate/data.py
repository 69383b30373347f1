"""The estimation benchmark's scenarios: scikit-learn's bundled data and synthetic data.

Every scenario splits data into training rows (the model is fitted on them), reference
rows (the labelled evaluation kept at push: deploykit's calibration evidence and
NannyML's reference set) and a pool that production windows are drawn from. Windows
come in steps of growing covariate shift: rows are drawn with weights
``exp(shift * z)``, z a standardized feature, so the population moves while P(y | x)
stays what it was (the assumption CBPE and DLE make). Labels are held back from the
estimators and used only to score them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    make_classification,
    make_friedman1,
)
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

WINDOW = 5000
SHIFTS = (0.0, 0.3, 0.6, 0.9, 1.2)  # five steps of ten windows: 50 windows
PER_STEP = 10


@dataclasses.dataclass
class Scenario:
    name: str
    task: str  # binary, multiclass, regression
    model: Any
    columns: list[str]
    X_ref: np.ndarray
    y_ref: np.ndarray
    windows: list[tuple[float, np.ndarray, np.ndarray]]  # (shift, X, y)
    _outputs: list[tuple[np.ndarray, np.ndarray | None]] | None = None

    def outputs(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(predictions, probabilities or None) per window, computed once."""
        if self._outputs is None:
            X = np.concatenate([w[1] for w in self.windows])
            pred = self.model.predict(X)
            proba = None if self.task == "regression" else self.model.predict_proba(X)
            cuts = np.cumsum([len(w[1]) for w in self.windows])[:-1]
            preds = np.split(pred, cuts)
            probas = [None] * len(preds) if proba is None else np.split(proba, cuts)
            self._outputs = list(zip(preds, probas, strict=True))
        return self._outputs


def _split(n: int, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
    return order[:a], order[a:b], order[b:]


def _windows(
    X: np.ndarray, y: np.ndarray, feature: int, seed: int, per_step: int = PER_STEP
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    z = (X[:, feature] - X[:, feature].mean()) / X[:, feature].std()
    out = []
    for shift in SHIFTS:
        weights = np.exp(shift * z)
        weights /= weights.sum()
        for _ in range(per_step):
            rows = rng.choice(len(X), size=WINDOW, replace=True, p=weights)
            out.append((shift, X[rows], y[rows]))
    return out


def synthetic_binary(seed: int = 0) -> Scenario:
    X, y = make_classification(
        n_samples=200_000, n_features=10, n_informative=6, flip_y=0.05, random_state=seed
    )
    train, ref, pool = _split(len(y), (0.1, 0.05), seed)
    model = HistGradientBoostingClassifier(random_state=seed).fit(X[train], y[train])
    cols = [f"x{i}" for i in range(X.shape[1])]
    return Scenario(
        "synthetic binary",
        "binary",
        model,
        cols,
        X[ref],
        y[ref],
        _windows(X[pool], y[pool], 0, seed),
    )


def synthetic_multiclass(seed: int = 0) -> Scenario:
    X, y = make_classification(
        n_samples=200_000,
        n_features=10,
        n_informative=6,
        n_classes=3,
        flip_y=0.05,
        random_state=seed,
    )
    train, ref, pool = _split(len(y), (0.1, 0.05), seed)
    model = HistGradientBoostingClassifier(random_state=seed).fit(X[train], y[train])
    cols = [f"x{i}" for i in range(X.shape[1])]
    return Scenario(
        "synthetic 3-class",
        "multiclass",
        model,
        cols,
        X[ref],
        y[ref],
        _windows(X[pool], y[pool], 0, seed),
    )


def breast_cancer(seed: int = 0) -> Scenario:
    data = load_breast_cancer()
    X, y = data.data, data.target
    train, ref, pool = _split(len(y), (0.4, 0.3), seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    model.fit(X[train], y[train])
    cols = [f"x{i}" for i in range(X.shape[1])]
    feature = list(data.feature_names).index("worst area")
    return Scenario(
        "breast_cancer (bundled)",
        "binary",
        model,
        cols,
        X[ref],
        y[ref],
        _windows(X[pool], y[pool], feature, seed),
    )


def synthetic_regression(seed: int = 0) -> Scenario:
    X, y = make_friedman1(n_samples=200_000, n_features=8, noise=0.0, random_state=seed)
    rng = np.random.default_rng(seed)
    y = y + rng.normal(size=len(y)) * (0.5 + 3.0 * X[:, 4])  # noise grows with x4
    train, ref, pool = _split(len(y), (0.1, 0.05), seed)
    model = HistGradientBoostingRegressor(random_state=seed).fit(X[train], y[train])
    cols = [f"x{i}" for i in range(X.shape[1])]
    return Scenario(
        "synthetic regression (Friedman #1, heteroscedastic)",
        "regression",
        model,
        cols,
        X[ref],
        y[ref],
        _windows(X[pool], y[pool], 4, seed),
    )


def diabetes(seed: int = 0) -> Scenario:
    X, y = load_diabetes(return_X_y=True)
    train, ref, pool = _split(len(y), (0.4, 0.3), seed)
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X[train], y[train])
    cols = [f"x{i}" for i in range(X.shape[1])]
    return Scenario(
        "diabetes (bundled)",
        "regression",
        model,
        cols,
        X[ref],
        y[ref],
        _windows(X[pool], y[pool], 2, seed),
    )


def correlation_flip(seed: int = 0, rows: int = 50_000) -> tuple[np.ndarray, list[np.ndarray]]:
    """(reference, windows): 10 standard-normal features, x0 and x1 correlated +0.8 in the
    reference; windows 0-4 are drawn the same way, windows 5-9 with the correlation
    flipped to -0.8 (x1 -> -x1 on the x0/x1 plane): every marginal stays N(0, 1)."""
    rng = np.random.default_rng(seed)

    def draw(n: int, rho: float) -> np.ndarray:
        X = rng.normal(size=(n, 10))
        X[:, 1] = rho * X[:, 0] + np.sqrt(1 - rho**2) * X[:, 1]
        X[:, 2] = 0.6 * X[:, 3] + 0.8 * X[:, 2]  # another pair that stays as it was
        return X

    reference = draw(rows, 0.8)
    windows = [draw(WINDOW, 0.8) for _ in range(5)] + [draw(WINDOW, -0.8) for _ in range(5)]
    return reference, windows
