"""A value that holds a large share of a column (the zeros of an amount) gets its own bin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deploykit.console.charts import distribution_figure
from deploykit.monitoring import FeatureProfile, ReferenceProfile
from deploykit.monitoring.drift import check_drift


def _amounts(n: int, zeros: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < zeros, 0.0, rng.exponential(8000, n).round() + 1)


def test_a_zero_inflated_amount_gets_a_zero_bin_and_quantile_bins_for_the_rest() -> None:
    profile = FeatureProfile.from_series("capital_gain", pd.Series(_amounts(10_000, 0.92, 0)))
    counts = profile.bin_counts
    assert counts[0] == int((_amounts(10_000, 0.92, 0) == 0).sum())  # the zeros, alone
    assert len(counts) == 10  # one point bin, nine quantile bins for the other 8%
    assert max(counts[1:]) - min(counts[1:]) <= 2
    again = FeatureProfile.from_dict(profile.to_dict())
    assert again.bin_edges == profile.bin_edges  # the point edge survives JSON


def test_a_default_inside_the_range_is_its_own_bin() -> None:
    rng = np.random.default_rng(1)
    hours = np.where(rng.random(5000) < 0.3, 40.0, rng.normal(40, 10, 5000))
    profile = FeatureProfile.from_series("hours", pd.Series(hours))
    at = profile.counts(pd.Series([40.0, 40.0, 39.5, 40.5]))
    point = profile.bin_edges.index(40.0)
    assert at[point] == 2  # exactly 40, and nothing else
    assert sum(at) == 4


def test_continuous_columns_keep_ten_quantile_bins() -> None:
    values = np.random.default_rng(2).normal(size=5000)
    assert FeatureProfile.from_series("x", pd.Series(values)).bin_counts == (500,) * 10


def test_drift_names_the_point_bin_and_the_chart_shows_both_kinds() -> None:
    reference = pd.DataFrame({"capital_gain": _amounts(20_000, 0.92, 3)})
    current = pd.DataFrame({"capital_gain": _amounts(3000, 0.70, 4)})  # fewer zeros now
    report = check_drift(ReferenceProfile.from_data(reference), current)
    feature = report.features[0]
    assert feature.drifted is True
    assert feature.bins[0] == "= 0"
    assert feature.bins[1].startswith("(0, ")  # above the zeros: the zeros excluded
    assert feature.bins[-1].startswith("≥ ")
    assert feature.reference_counts[0] / sum(feature.reference_counts) > 0.9
    assert feature.current_counts[0] / sum(feature.current_counts) < 0.75

    figure = distribution_figure(feature.bins, feature.reference_counts, feature.current_counts)
    reference_bars = figure.data[0]
    assert list(reference_bars.x) == list(feature.bins)  # the zero bin and the rest, side by side
    assert reference_bars.y[0] > 0.9
    assert 0 < sum(reference_bars.y[1:]) < 0.1
    assert list(reference_bars.marker.pattern.shape) == ["/"] + [""] * (len(feature.bins) - 1)
