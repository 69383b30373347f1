from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from deploykit.errors import InvalidInputError, UntrustedArtifactError
from deploykit.serialization import (
    FORMATS,
    detect_format,
    dump,
    load,
    trusted_types,
    untrusted_types,
)

X_num, y = make_classification(n_samples=150, n_features=4, random_state=0)
X_df = pd.DataFrame(X_num, columns=["age", "tenure", "calls", "spend"])
X_df["plan"] = np.where(X_num[:, 0] > 0, "pro", "basic")

TREE = "sklearn.tree._tree.Tree"


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A custom estimator, as a team would write in its own package."""

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold

    def fit(self, X: Any, y: Any) -> ThresholdClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(np.asarray(X)[:, 0] > self.threshold).astype(int)]


def column_pipeline() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "tenure", "calls", "spend"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(X_df, y)


MODELS = {
    "logistic": (lambda: LogisticRegression().fit(X_num, y), X_num),
    "scaler+logistic": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(X_num, y),
        X_num,
    ),
    "columns+onehot+logistic": (column_pipeline, X_df),
    "forest": (
        lambda: RandomForestClassifier(n_estimators=5, random_state=0).fit(X_num, y),
        X_num,
    ),
}


def save(model: Any, path: Path, format: str) -> Path:
    with path.open("wb") as f:
        dump(model, f, format=format)
    return path


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_gives_identical_predictions(tmp_path: Path, name: str, format: str) -> None:
    make, X = MODELS[name]
    model = make()
    path = save(model, tmp_path / f"model.{format}", format)
    # Tree-based models need sklearn's Tree trusted explicitly with skops (see below).
    loaded = load(path, format=format, trusted=[TREE] if name == "forest" else ())
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    ("model", "X", "untrusted"),
    [
        (LogisticRegression().fit(X_num, y), X_num, []),
        (column_pipeline(), X_df, []),
        (RandomForestClassifier(n_estimators=2, random_state=0).fit(X_num, y), X_num, [TREE]),
        (
            make_pipeline(SimpleImputer(), LogisticRegression()).fit(X_num, y),
            X_num,
            ["numpy.dtype"],
        ),
    ],
    ids=["logistic", "columns+onehot", "forest", "imputer"],
)
def test_what_skops_trusts_by_default(
    tmp_path: Path, model: Any, X: Any, untrusted: list[str]
) -> None:
    """skops 0.16 trusts linear models and preprocessing, not tree internals nor dtypes;
    deploykit's rule trusts those scikit-learn/NumPy types, so they load with no setting."""
    path = save(model, tmp_path / "model.skops", "skops")
    assert untrusted_types(path) == untrusted
    assert untrusted_types(path, trusted=untrusted) == []
    assert trusted_types(path) == untrusted
    np.testing.assert_array_equal(load(path, format="skops").predict(X), model.predict(X))


def test_a_custom_class_loads_only_once_the_loader_trusts_it(tmp_path: Path) -> None:
    model = ThresholdClassifier(threshold=0.1).fit(X_num, y)
    path = save(model, tmp_path / "model.skops", "skops")
    custom = f"{ThresholdClassifier.__module__}.ThresholdClassifier"

    with pytest.raises(UntrustedArtifactError) as excinfo:
        load(path, format="skops", trusted=[TREE])
    message = str(excinfo.value)
    assert f"holds types this process does not trust: {custom}." in message
    # The suggested setting keeps the types already trusted.
    assert f"DEPLOYKIT_SKOPS_TRUSTED={','.join(sorted([custom, TREE]))} " in message

    loaded = load(path, format="skops", trusted=[custom])
    assert isinstance(loaded, ThresholdClassifier)
    np.testing.assert_array_equal(loaded.predict(X_num), model.predict(X_num))


def test_unknown_formats_list_the_known_ones(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X_num, y)
    message = "The 'format' parameter must be one of 'joblib', 'skops'. Got 'onnx' instead."
    with tmp_path.joinpath("m").open("wb") as f, pytest.raises(InvalidInputError) as excinfo:
        dump(model, f, format="onnx")
    assert str(excinfo.value) == message
    with pytest.raises(InvalidInputError, match="must be one of 'joblib', 'skops'"):
        load(tmp_path / "m", format="pickle")


def test_an_unpicklable_model_is_one_clear_error(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(lambda X: X * 2), LogisticRegression())
    model.fit(X_num, y)
    with tmp_path.joinpath("m").open("wb") as f, pytest.raises(InvalidInputError) as excinfo:
        dump(model, f, format="joblib")
    assert str(excinfo.value).startswith("The model Pipeline cannot be pickled by joblib: ")
    assert "no lambdas" in str(excinfo.value)


def test_detect_format_by_suffix_then_by_content(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X_num, y)
    for name in ("m.joblib", "m.PKL", "m.pickle"):
        assert detect_format(tmp_path / name) == "joblib"  # the suffix suffices
    assert detect_format(tmp_path / "m.skops") == "skops"
    assert detect_format(save(model, tmp_path / "a.bin", "joblib")) == "joblib"
    assert detect_format(save(model, tmp_path / "b.bin", "skops")) == "skops"

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match=r"Cannot tell the format .* got suffix '\.txt'"):
        detect_format(tmp_path / "notes.txt")
