"""deploykit's skops trust rule: scikit-learn's own types load with no setting, safely.

A crafted file must not get through because of it: tree node indices are checked after
loading, functions and C types still need DEPLOYKIT_SKOPS_TRUSTED.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from deploykit.errors import InvalidInputError, UntrustedArtifactError
from deploykit.registry import Registry
from deploykit.serialization import dump, load, trusted_types

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)


def save(model: Any, path: Path) -> Path:
    with path.open("wb") as f:
        dump(model, f, format="skops")
    return path


def test_hist_gradient_boosting_loads_with_no_setting(tmp_path: Path) -> None:
    model = HistGradientBoostingClassifier(max_iter=10).fit(X, y)
    path = save(model, tmp_path / "hgb.skops")
    assert trusted_types(path) == [
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    ]
    np.testing.assert_array_equal(load(path, format="skops").predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("left", 10**6, "left child 1000000"),
        ("right", 0, "right child 0"),  # back to the root: predict would loop forever
        ("feature_idx", 99, "feature index outside 0..3"),
    ],
)
def test_a_crafted_tree_predictor_is_refused(
    tmp_path: Path, field: str, value: int, problem: str
) -> None:
    model = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
    nodes = model._predictors[0][0].nodes
    nodes[field][int(np.flatnonzero(~nodes["is_leaf"].astype(bool))[0])] = value
    path = save(model, tmp_path / "crafted.skops")
    with pytest.raises(UntrustedArtifactError, match=problem) as excinfo:
        load(path, format="skops")
    assert "it was not loaded" in str(excinfo.value)


def test_a_crafted_decision_tree_is_refused(tmp_path: Path) -> None:
    model = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    path = save(model, tmp_path / "forest.skops")
    assert len(load(path, format="skops").predict(X)) == len(X)  # the honest one loads
    model.estimators_[1].tree_.children_left[0] = 0  # a cycle at the root
    path = save(model, tmp_path / "crafted.skops")
    with pytest.raises(UntrustedArtifactError, match="node 0 has left child 0"):
        load(path, format="skops")


def test_functions_and_compiled_types_still_need_the_setting(tmp_path: Path) -> None:
    clip = make_pipeline(
        FunctionTransformer(np.clip, kw_args={"a_min": -1, "a_max": 1}),
        HistGradientBoostingClassifier(max_iter=3),
    ).fit(X, y)
    path = save(clip, tmp_path / "clip.skops")
    with pytest.raises(UntrustedArtifactError, match=r"does not trust: numpy\.clip\."):
        load(path, format="skops")
    assert load(path, format="skops", trusted=["numpy.clip"]).predict(X).shape == (300,)

    knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    path = save(knn, tmp_path / "knn.skops")
    with pytest.raises(UntrustedArtifactError, match=r"sklearn\.neighbors\._kd_tree\.KDTree"):
        load(path, format="skops")


def test_a_push_that_would_not_load_is_not_a_version(tmp_path: Path) -> None:
    knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    with Registry(home=tmp_path / "home") as reg:
        with pytest.raises(InvalidInputError) as excinfo:
            reg.push(knn, "knn", X=X, format="skops", deploy=True)
        message = str(excinfo.value)
        assert message.startswith("knn was not pushed: it would not load where it is served.")
        assert "DEPLOYKIT_SKOPS_TRUSTED=sklearn.metrics._dist_metrics" in message
        assert str(tmp_path) not in message  # no file path: a server may send this to a client
        assert reg.models() == []
        hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
        version = reg.push(hgb, "hgb", X=X, format="skops", deploy=True)
        assert version.aliases == ("production",)
        np.testing.assert_array_equal(reg.load("hgb").predict(X), hgb.predict(X))


def test_the_rule_imports_only_library_modules(tmp_path: Path) -> None:
    from deploykit.serialization._skops_trust import _trusted

    assert _trusted("sklearn.pipeline.Pipeline", {"ObjectNode"})
    assert not _trusted("numpy.conftest.Anything", {"ObjectNode"})  # never imported
    assert not _trusted("sklearn.tests.test_base.K", {"ObjectNode"})
    assert not _trusted("os.path.Thing", {"ObjectNode"})
    assert not _trusted("sklearn.pipeline.Pipeline", {"ConstructorFromReduceNode"})  # args
    assert not _trusted("numpy.clip", {"ObjectNode"})  # a function, not a class
    assert not _trusted("numpy.random.MT19937", {"ObjectNode"})  # compiled: not a heap type
