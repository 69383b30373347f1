import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from deploykit.errors import InvalidInputError, NotFoundError
from deploykit.monitoring import DataFingerprint, ReferenceProfile, fingerprint


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 5000
    data = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "visits": rng.integers(0, 4, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) > 0.7,
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        }
    )
    data.loc[data.index[::50], "amount"] = np.nan
    data.loc[data.index[::100], "city"] = None
    return data


@pytest.fixture
def profile(frame: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile.from_data(frame)


def test_kinds_follow_the_dtypes(profile):
    kinds = {f.name: f.kind for f in profile.features}
    assert kinds == {
        "amount": "numeric",
        "visits": "numeric",
        "city": "categorical",
        "member": "categorical",
        "plan": "categorical",
    }
    assert profile.rows == 5000


def test_numeric_edges_are_numpy_quantiles_and_counts_cover_every_value(profile, frame):
    amount = profile.feature("amount")
    values = frame["amount"].dropna().to_numpy()
    expected = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    np.testing.assert_array_equal(amount.bin_edges, expected)
    assert (amount.count, amount.missing) == (5000, 100)
    assert sum(amount.bin_counts) == amount.count - amount.missing
    edges = np.asarray(amount.bin_edges)
    by_hand = [((values >= lo) & (values < hi)).sum() for lo, hi in itertools.pairwise(edges)]
    by_hand[-1] += (values == edges[-1]).sum()  # the last bin holds the maximum
    assert list(amount.bin_counts) == by_hand
    assert amount.mean == pytest.approx(values.mean())
    assert amount.std == pytest.approx(values.std())
    assert (amount.min, amount.max) == (values.min(), values.max())


def test_columns_with_few_values_get_one_bin_per_value(profile, frame):
    visits = profile.feature("visits")
    assert visits.bin_edges == (0.0, 0.5, 1.5, 2.5, 3.0)
    assert list(visits.bin_counts) == frame["visits"].value_counts().sort_index().tolist()


def test_a_constant_column_is_one_bin():
    profile = ReferenceProfile.from_data(pd.DataFrame({"x": [2.0] * 10}))
    assert profile.feature("x").bin_edges == (2.0, 2.0)
    assert profile.feature("x").bin_counts == (10,)


def test_categorical_frequencies_count_values_and_leave_out_missing(profile, frame):
    city = profile.feature("city")
    assert city.frequencies == frame["city"].value_counts().to_dict()
    assert city.missing == 50
    assert sum(city.frequencies.values()) == city.count - city.missing
    assert profile.feature("member").frequencies == {
        str(k): v for k, v in frame["member"].value_counts().items()
    }
    assert set(profile.feature("plan").frequencies) == {"basic", "pro"}


def test_only_the_top_values_are_named_the_rest_pooled():
    values = [f"v{i:03d}" for i in range(60) for _ in range(60 - i)]  # v000 most frequent
    profile = ReferenceProfile.from_data(pd.DataFrame({"code": values}))
    frequencies = profile.feature("code").frequencies
    assert len(frequencies) == 51
    assert list(frequencies)[:2] == ["v000", "v001"]
    assert frequencies["__other__"] == sum(range(1, 11))  # v050 ... v059


def test_the_sample_is_seeded_uniform_and_bounded(frame):
    first = ReferenceProfile.from_data(frame, sample_size=100, seed=1).feature("amount")
    again = ReferenceProfile.from_data(frame, sample_size=100, seed=1).feature("amount")
    other = ReferenceProfile.from_data(frame, sample_size=100, seed=2).feature("amount")
    assert len(first.sample) == 100
    assert first.sample == again.sample
    assert first.sample != other.sample
    assert set(first.sample) <= set(frame["amount"].dropna())


def test_round_trip_through_strict_json(frame):
    frame = frame.assign(extreme=np.r_[np.inf, -np.inf, np.zeros(len(frame) - 2)])
    frame["empty"] = np.nan
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    with_prediction = ReferenceProfile.from_data(X, model=LogisticRegression().fit(X, y))
    for original in (ReferenceProfile.from_data(frame), with_prediction):
        text = json.dumps(original.to_dict(), allow_nan=False)
        restored = ReferenceProfile.from_dict(json.loads(text))
        assert restored.to_dict() == original.to_dict()
        assert restored.features[:2] == original.features[:2]
    extreme = ReferenceProfile.from_dict(json.loads(text_of(frame))).feature("extreme")
    assert (extreme.min, extreme.max) == (-np.inf, np.inf)
    assert np.isnan(extreme.mean)  # inf + -inf: NaN goes out as "nan" and comes back


def text_of(frame: pd.DataFrame) -> str:
    return json.dumps(ReferenceProfile.from_data(frame).to_dict(), allow_nan=False)


def test_unknown_feature_names_the_known_ones(profile):
    with pytest.raises(NotFoundError) as info:
        profile.feature("amout")
    message = str(info.value)
    assert "'amount', 'visits', 'city', 'member', 'plan'" in message
    assert "Did you mean 'amount'?" in message


def test_arrays_are_profiled_as_f0_to_fn():
    profile = ReferenceProfile.from_data(np.random.default_rng(0).normal(size=(50, 3)))
    assert profile.columns == ["f0", "f1", "f2"]


def test_classifier_predictions_are_profiled_as_classes():
    X, y = make_classification(n_samples=300, n_features=4, random_state=0)
    model = LogisticRegression().fit(X, y)
    prediction = ReferenceProfile.from_data(X, model=model).prediction
    assert prediction.kind == "categorical"
    assert prediction.frequencies == {
        str(k): v for k, v in pd.Series(model.predict(X)).value_counts().items()
    }


def test_regressor_predictions_are_profiled_as_numbers():
    X, y = make_regression(n_samples=300, n_features=4, random_state=0)
    prediction = ReferenceProfile.from_data(X, model=LinearRegression().fit(X, y)).prediction
    assert prediction.kind == "numeric"
    assert sum(prediction.bin_counts) == 300


@pytest.mark.parametrize(("option", "value"), [("bins", 0), ("sample_size", -1), ("bins", 2.5)])
def test_bad_options_are_refused(frame, option, value):
    with pytest.raises(InvalidInputError, match=f"The '{option}' parameter"):
        ReferenceProfile.from_data(frame, **{option: value})


def test_counts_bin_new_data_like_the_reference(profile, frame):
    assert profile.feature("amount").counts(frame["amount"]) == profile.feature("amount").bin_counts
    shifted = profile.feature("amount").counts(frame["amount"] + 1e6)
    assert shifted[-1] == frame["amount"].notna().sum()  # beyond the max: the open last bin
    city = profile.feature("city").counts(pd.Series(["paris", "brest", "brest", None]))
    assert city == {"paris": 1, "lyon": 0, "nice": 0, "__other__": 2}


# -- fingerprint -----------------------------------------------------------------------


def test_fingerprint_is_stable_for_the_same_content(frame):
    first = fingerprint(frame)
    assert fingerprint(frame.copy()) == first
    assert fingerprint(frame.set_index(frame.index + 10)) == first  # the index is not data
    assert (first.rows, first.columns) == (5000, tuple(frame.columns))
    assert len(first.sha256) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(amount=f["amount"].where(f.index != 123, 0.5)),
        lambda f: f.assign(city=f["city"].where(f.index != 7, "brest")),
        lambda f: f.rename(columns={"amount": "price"}),
        lambda f: f.astype({"visits": "float64"}),
        lambda f: f.iloc[::-1],
    ],
    ids=["numeric cell", "string cell", "column name", "dtype", "row order"],
)
def test_fingerprint_changes_with_the_content(frame, change):
    assert fingerprint(change(frame)).sha256 != fingerprint(frame).sha256


def test_fingerprint_of_arrays():
    X = np.random.default_rng(0).normal(size=(20, 3))
    changed = X.copy()
    changed[5, 1] += 1e-9
    assert fingerprint(X) == fingerprint(X.copy())
    assert fingerprint(changed) != fingerprint(X)
    assert fingerprint(X).columns == ("f0", "f1", "f2")


def test_fingerprint_round_trip_through_json(frame):
    original = fingerprint(frame)
    assert DataFingerprint.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_predictions_use_the_data_the_way_the_model_was_fitted(frame):
    X = frame[["visits"]].assign(member=frame["member"].astype(float))
    on_frame = LinearRegression().fit(X, frame["visits"])
    on_array = LinearRegression().fit(X.to_numpy(), frame["visits"])
    # pytest turns sklearn's feature-name warnings into errors: neither may warn
    assert ReferenceProfile.from_data(X.to_numpy(), model=on_frame).columns == ["visits", "member"]
    assert ReferenceProfile.from_data(X, model=on_array).prediction.count == len(X)
