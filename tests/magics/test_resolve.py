import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from sklearn.linear_model import LogisticRegression

from deploykit.ui.resolve import (
    data_variables,
    fitted_estimators,
    lookup,
    require_estimator,
    user_variables,
)


@pytest.fixture(scope="module")
def namespace():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = np.array([0, 1, 0, 1])
    return {
        "model": LogisticRegression().fit(X, y),
        "untrained": LogisticRegression(),
        "X_test": X,
        "y_test": y,
        "label": pd.Series(y),
        "threshold": 0.5,
        "np": np,
        "_hidden": 1,
        "In": [],
        "Out": {},
    }


def test_a_typo_suggests_the_closest_variable(namespace):
    with pytest.raises(UsageError) as caught:
        lookup(namespace, "modle")
    assert str(caught.value) == "No variable named 'modle' in this notebook (did you mean 'model'?)"


def test_an_unknown_name_with_nothing_close_says_so(namespace):
    with pytest.raises(UsageError) as caught:
        lookup(namespace, "zzz")
    assert str(caught.value) == "No variable named 'zzz' in this notebook"


def test_expressions_are_evaluated_without_touching_the_namespace(namespace):
    before = set(namespace)
    assert lookup(namespace, "X_test[:2]").shape == (2, 2)
    assert lookup(namespace, "X_test.a.sum()") == 6.0
    assert set(namespace) == before


def test_a_typo_inside_an_expression_names_the_missing_variable(namespace):
    with pytest.raises(UsageError, match=r"No variable named 'X_tset' .*did you mean 'X_test'"):
        lookup(namespace, "X_tset[:5]")


def test_a_failing_expression_is_one_line(namespace):
    with pytest.raises(UsageError) as caught:
        lookup(namespace, "X_test['nope']")
    assert str(caught.value).startswith("Could not evaluate 'X_test['nope']' in this notebook: ")
    assert "KeyError" in str(caught.value)


def test_a_model_argument_must_be_a_fitted_estimator(namespace):
    assert require_estimator(namespace, "model") is namespace["model"]
    with pytest.raises(UsageError, match=r"'X_test' is a DataFrame, not a model"):
        require_estimator(namespace, "X_test")
    with pytest.raises(UsageError, match=r"'untrained' is not fitted yet: call untrained\.fit"):
        require_estimator(namespace, "untrained")


def test_only_fitted_estimators_and_data_are_offered(namespace):
    assert list(fitted_estimators(namespace)) == ["model"]
    assert sorted(data_variables(namespace)) == ["X_test", "label", "y_test"]


def test_user_variables_skip_ipython_and_private_names(namespace):
    names = user_variables(namespace)
    assert "_hidden" not in names
    assert "In" not in names
    assert "np" not in names
    assert "threshold" in names
