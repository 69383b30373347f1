"""The statistics against scipy's, on fixed data with ties, weights and sparse cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon as sp_jensenshannon

from deploykit.monitoring import stats

RNG = np.random.default_rng(7)
SAMPLES = [
    (RNG.normal(0, 1, 300), RNG.normal(0.4, 1.3, 5000)),
    (RNG.integers(0, 5, 80).astype(float), RNG.integers(0, 7, 900).astype(float)),  # ties
    (RNG.lognormal(0, 1, 1000), RNG.lognormal(0.1, 1, 37)),
    (np.array([3.0]), np.array([1.0, 2.0, 3.0, 3.0, 9.0])),
]


@pytest.mark.parametrize(("ref", "cur"), SAMPLES)
def test_ks_matches_scipy_asymptotic(ref: np.ndarray, cur: np.ndarray) -> None:
    d, p = stats.ks_2samp(np.sort(ref), np.sort(cur))
    expected = sp.ks_2samp(ref, cur, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("ref", "cur"), SAMPLES)
@pytest.mark.parametrize("weighted", [False, True])
def test_wasserstein_matches_scipy(ref: np.ndarray, cur: np.ndarray, weighted: bool) -> None:
    weights = RNG.random(len(ref)) if weighted else None
    order = np.argsort(ref, kind="stable")
    ours = stats.wasserstein(ref[order], np.sort(cur), None if weights is None else weights[order])
    assert ours == pytest.approx(sp.wasserstein_distance(ref, cur, u_weights=weights), rel=1e-10)


def test_wasserstein_of_a_shift_is_the_shift() -> None:
    ref = np.sort(RNG.normal(0, 1, 1000))
    assert stats.wasserstein(ref, ref + 0.25) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [([500, 300, 200], [60, 25, 15]), ([10, 0, 7, 3], [4, 6, 0, 9]), ([9000, 1000], [80, 20])],
)
def test_chi2_without_pooling_is_scipys_contingency_test(ref: list[int], cur: list[int]) -> None:
    stat, p, dof = stats.chi2_homogeneity(ref, cur, min_expected=0)
    keep = np.add(ref, cur) > 0
    expected = sp.chi2_contingency(np.array([ref, cur])[:, keep], correction=False)
    assert (stat, dof) == (pytest.approx(expected.statistic), expected.dof)
    assert p == pytest.approx(expected.pvalue)


def test_chi2_pools_rare_categories_instead_of_crying_wolf() -> None:
    # Two rows of a category the reference saw 10 times in 100,000: unremarkable in 100 rows,
    # yet the raw chi-squared calls it a one-in-a-billion event.
    ref = [60_000, 39_990, 10]
    cur = [58, 40, 2]
    assert stats.chi2_homogeneity(ref, cur, min_expected=0)[1] < 1e-6
    assert stats.chi2_homogeneity(ref, cur)[1] > 0.05


def test_jensenshannon_matches_scipy_base_2() -> None:
    p, q = np.array([40, 25, 15, 12, 8]), np.array([10, 30, 0, 50, 10])
    assert stats.jensenshannon(p, q) == pytest.approx(
        sp_jensenshannon(p / p.sum(), q / q.sum(), base=2)
    )
    assert stats.jensenshannon(p, p) == 0.0
    assert stats.jensenshannon([1, 0], [0, 1]) == pytest.approx(1.0)


def test_psi_by_hand_with_empty_bins_floored() -> None:
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 30, 20, 10])
    p = np.array([0.5, 0.3, 0.2, 1e-4])
    q = cur / cur.sum()
    assert stats.psi(ref, cur) == pytest.approx(float(((q - p) * np.log(q / p)).sum()))
    assert stats.psi(ref, ref) == 0.0
