"""Multivariate drift: a correlation that flips is caught though every marginal holds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from deploykit.monitoring import ReferenceProfile, check_drift
from deploykit.monitoring.multivariate import (
    PCAReference,
    domain_classifier_auc,
    reconstruction_drift,
)

COLUMNS = [f"x{i}" for i in range(6)]


def draw(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 1] = rho * X[:, 0] + np.sqrt(1 - rho**2) * X[:, 1]
    return pd.DataFrame(X, columns=COLUMNS)


def test_a_correlation_flip_is_flagged_while_no_single_feature_drifts() -> None:
    profile = ReferenceProfile.from_data(draw(20_000, 0.8, 0))
    profile = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))
    same = check_drift(profile, draw(5000, 0.8, 1))
    flipped = check_drift(profile, draw(5000, -0.8, 2))
    assert same.multivariate is not None
    assert flipped.multivariate is not None
    assert not same.multivariate.drifted
    assert same.multivariate.p_value > 0.01
    assert flipped.drifted_features == ()  # every marginal is still N(0, 1)
    assert flipped.multivariate.drifted
    assert flipped.multivariate.p_value < 0.01
    assert flipped.multivariate.statistic > flipped.multivariate.band[1]
    # it travels with the report, as the drift route sends it
    again = type(flipped).from_dict(json.loads(json.dumps(flipped.to_dict())))
    assert again.multivariate == flipped.multivariate
    assert flipped.summary().multivariate_drifted is True


def test_false_alarms_stay_near_the_level() -> None:
    reference = PCAReference.fit(draw(20_000, 0.8, 0).to_numpy(), COLUMNS)
    assert reference is not None
    p = [reconstruction_drift(reference, draw(2000, 0.8, s).to_numpy()).p_value for s in range(40)]
    assert sum(v < 0.01 for v in p) <= 2


def test_the_domain_classifier_tells_flipped_rows_apart() -> None:
    reference = PCAReference.fit(draw(5000, 0.8, 0).to_numpy(), COLUMNS)
    assert reference is not None
    assert domain_classifier_auc(reference, draw(2000, 0.8, 1).to_numpy()) < 0.6
    assert domain_classifier_auc(reference, draw(2000, -0.8, 2).to_numpy()) > 0.75


def test_no_multivariate_reference_for_a_single_numeric_column() -> None:
    frame = pd.DataFrame({"a": np.arange(100.0), "b": ["x", "y"] * 50})
    assert ReferenceProfile.from_data(frame).multivariate is None
    assert check_drift(ReferenceProfile.from_data(frame), frame).multivariate is None
