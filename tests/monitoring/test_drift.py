"""check_drift: quiet without drift, loud on real shifts, and every value accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from deploykit.errors import InvalidInputError, NotFoundError
from deploykit.monitoring import DriftMethod, DriftOptions, ReferenceProfile, check_drift

NUMERIC = ["normal", "lognormal", "uniform", "count", "heavy"]


def draw(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(50, 10, n),
            "lognormal": rng.lognormal(3, 0.8, n),
            "uniform": rng.uniform(0, 100, n),
            "count": rng.poisson(3, n),
            "heavy": rng.standard_t(4, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.choice(["yes", "no"], n, p=[0.7, 0.3]),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return draw(np.random.default_rng(0), 10_000)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile.from_data(reference)


@pytest.mark.parametrize("n", [100, 2_000, 50_000])
def test_windows_without_drift_raise_almost_no_flag(profile: ReferenceProfile, n: int) -> None:
    # The policy allows 0.5% of such windows a flag (bench/drift_quality measures it on
    # thousands); a broken one flags most of them (tools with bare defaults do at n=100).
    rng = np.random.default_rng(n)
    flagged = [check_drift(profile, draw(rng, n)).drifted_features for _ in range(40)]
    assert sum(bool(f) for f in flagged) <= 1, flagged


@pytest.mark.parametrize("feature", NUMERIC)
def test_a_quarter_std_shift_is_caught_from_two_thousand_rows(
    profile: ReferenceProfile, reference: pd.DataFrame, feature: str
) -> None:
    rng = np.random.default_rng(1)
    std = reference[feature].std(ddof=0)
    for _ in range(5):
        window = draw(rng, 2_000)
        window[feature] = window[feature] + 0.25 * std
        assert check_drift(profile, window).drifted_features == (feature,)


def test_a_harmless_shift_stays_quiet_however_large_the_window() -> None:
    rng = np.random.default_rng(2)
    profile = ReferenceProfile.from_data(draw(rng, 200_000))
    window = draw(rng, 300_000)
    window["normal"] += 0.03 * 10  # 3% of a standard deviation
    report = check_drift(profile, window)
    normal = report.feature("normal")
    assert normal.p_value is not None
    assert normal.p_value < 1e-9
    assert normal.score is not None
    assert normal.score < normal.threshold
    assert report.drifted_features == ()
    # A bare p-value test, as some tools default to on large references, cries drift.
    bare = check_drift(profile, window, options=DriftOptions(numeric="chi2"))
    assert "normal" in bare.drifted_features


def test_the_report_explains_its_verdicts(profile: ReferenceProfile) -> None:
    window = draw(np.random.default_rng(3), 5_000)
    window["city"] = np.where(np.arange(5_000) % 3 == 0, "paris", window["city"])
    report = check_drift(profile, window)
    city = report.feature("city")
    assert (city.kind, city.method, city.test, city.drifted) == (
        "categorical",
        "jensenshannon",
        "chi2",
        True,
    )
    assert city.score is not None
    assert city.score >= city.threshold == 0.1
    assert city.alpha == pytest.approx(0.005 / len(profile.features))
    assert (city.n_reference, city.n_current) == (10_000, 5_000)
    assert report.drifted_share == pytest.approx(1 / 7)
    assert report.to_dict()["drifted_features"] == ["city"]
    with pytest.raises(NotFoundError, match="'normal'"):
        report.feature("nromal")


def test_missing_values_and_unseen_categories_are_counted(profile: ReferenceProfile) -> None:
    window = draw(np.random.default_rng(4), 1_000).astype({"count": float})
    window.loc[:299, "uniform"] = np.nan
    window.loc[:9, "count"] = np.inf  # not a number we can place: counted as missing
    window.loc[:49, "city"] = "marseille"
    window.loc[50:59, "city"] = "brest"
    window.loc[60:69, "city"] = None
    report = check_drift(profile, window)
    uniform = report.feature("uniform")
    assert (uniform.missing, uniform.n_current, uniform.missing_share) == (300, 700, 0.3)
    assert uniform.missing_drifted
    assert uniform.drifted
    assert report.feature("count").missing == 10
    city = report.feature("city")
    assert (city.unseen, city.unseen_values, city.missing) == (60, ("marseille", "brest"), 10)
    assert city.drifted


def test_a_column_that_arrives_empty_drifts_without_a_score(profile: ReferenceProfile) -> None:
    window = draw(np.random.default_rng(5), 500)
    window["heavy"] = np.nan
    heavy = check_drift(profile, window).feature("heavy")
    assert (heavy.score, heavy.drifted, heavy.note) == (None, True, "no values in this window")


def test_an_empty_window_has_no_verdicts(profile: ReferenceProfile) -> None:
    report = check_drift(profile, draw(np.random.default_rng(6), 0))
    assert report.rows == 0
    assert report.drifted_share is None
    assert {f.drifted for f in report.features} == {None}


def test_columns_missing_from_the_data_are_named(profile: ReferenceProfile) -> None:
    report = check_drift(profile, draw(np.random.default_rng(7), 300).drop(columns=["flag"]))
    assert report.feature("flag").note == "not in the data"
    assert report.notes == ("Column 'flag' of the reference is not in the data.",)


def test_prediction_logs_and_frames_give_the_same_report(profile: ReferenceProfile) -> None:
    frame = draw(np.random.default_rng(8), 3_000)
    frame["normal"] += 5
    table = pa.table({f"input.{c}": pa.array(frame[c].to_numpy()) for c in frame.columns})
    assert check_drift(profile, table).to_dict() == check_drift(profile, frame).to_dict()


def test_per_feature_methods_and_thresholds(profile: ReferenceProfile) -> None:
    window = draw(np.random.default_rng(9), 5_000)
    window["normal"] += 0.25 * 10
    options = DriftOptions(features={"normal": 0.5, "city": DriftMethod("psi", threshold=0.2)})
    report = check_drift(profile, window, options=options)
    assert report.feature("normal").threshold == 0.5
    assert not report.feature("normal").drifted  # a 0.25 std shift is below this model's bar
    city = report.feature("city")
    assert (city.method, city.threshold, city.alpha) == ("psi", 0.2, None)
    with pytest.raises(InvalidInputError, match="'wasserstein' works on numeric features"):
        check_drift(profile, window, options=DriftOptions(features={"city": "wasserstein"}))


def test_prediction_drift_uses_the_model_profile() -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=2_000, n_features=4, random_state=0)
    model = LogisticRegression().fit(X, y)
    profile = ReferenceProfile.from_data(X, model=model)
    shifted = X[:1000] + np.array([2.0, 0, 0, 0])
    data = {f"input.{i}": shifted[:, i] for i in range(4)}
    data["prediction"] = model.predict(shifted)
    report = check_drift(profile, data)
    assert report.prediction is not None
    assert report.prediction.kind == "categorical"
    assert report.drifted_features == ("f0",)


def test_each_verdict_carries_the_histogram_behind_it():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    profile = ReferenceProfile.from_data(reference)
    current = pd.DataFrame({"x": rng.normal(1.0, size=2000), "c": rng.choice(["a", "z"], 2000)})
    report = check_drift(profile, current)
    x = next(f for f in report.features if f.feature == "x")
    assert len(x.bins) == len(x.reference_counts) == len(x.current_counts) == 10
    assert x.bins[0].startswith("< ")
    assert x.bins[-1].startswith("≥ ")
    assert sum(x.reference_counts) == 5000
    assert sum(x.current_counts) == 2000
    assert x.current_counts[-1] > x.reference_counts[-1] * 2000 / 5000  # shifted up
    c = next(f for f in report.features if f.feature == "c")
    assert c.bins == ("a", "b", "other")
    assert c.current_counts[2] == c.unseen  # 'z' pooled as other
    again = type(c).from_dict(c.to_dict())
    assert again.bins == c.bins
    assert again.current_counts == c.current_counts
