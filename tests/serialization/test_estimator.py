from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deploykit.errors import NotAnEstimatorError
from deploykit.serialization import check_estimator

X, y = make_classification(n_samples=60, n_features=4, random_state=0)


class ConstantPredictor:
    """Predicts without ever being fitted, like a hand-written rules model."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X))


def test_returns_the_public_class_path() -> None:
    assert check_estimator(LogisticRegression().fit(X, y)) == (
        "sklearn.linear_model.LogisticRegression"
    )
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    assert check_estimator(forest) == "sklearn.ensemble.RandomForestClassifier"
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert check_estimator(pipeline) == "sklearn.pipeline.Pipeline"


def test_predict_only_objects_are_accepted() -> None:
    assert check_estimator(ConstantPredictor()) == f"{__name__}.ConstantPredictor"


def test_an_object_without_predict_is_refused_by_name() -> None:
    with pytest.raises(NotAnEstimatorError) as excinfo:
        check_estimator(pd.DataFrame(X))
    assert str(excinfo.value) == (
        "The model passed to push is a DataFrame, not a fitted estimator: it has no "
        "predict() method. Pass a fitted scikit-learn estimator or Pipeline."
    )
    assert isinstance(excinfo.value, TypeError)  # sklearn habit: also the builtin


def test_an_unfitted_estimator_is_refused() -> None:
    with pytest.raises(NotAnEstimatorError, match=r"LogisticRegression, is not fitted yet: call"):
        check_estimator(LogisticRegression())
    with pytest.raises(NotAnEstimatorError, match=r"Pipeline, is not fitted yet"):
        check_estimator(make_pipeline(StandardScaler(), LogisticRegression()))
