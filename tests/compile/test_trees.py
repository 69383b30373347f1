"""Tree ensembles converted from their fitted arrays (deploykit.compile._trees): labels
identical to scikit-learn's and probabilities within 1e-5 on thousands of rows, among
them values exactly at, just below and just above every threshold, and NaN.

Real skl2onnx graph, real onnxruntime session (as the server runs it).
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from deploykit.compile import CompiledModel, compile_model
from deploykit.compile._trees import ensemble_of, float32_at_most
from deploykit.signature import Signature

WIDTH = 6


def frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def data(task: str, nan: bool) -> tuple[pd.DataFrame, np.ndarray]:
    if task == "regression":
        X, y = make_regression(n_samples=1500, n_features=WIDTH, noise=1, random_state=0)
        y = y / 100  # float32 sums: keep outputs within the absolute tolerance
    else:
        classes = 3 if task == "multiclass" else 2
        X, y = make_classification(
            n_samples=1500, n_features=WIDTH, n_informative=4, n_classes=classes, random_state=0
        )
    if nan:  # missing values seen in training: scikit-learn learns where NaN goes
        X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    return frame(X), y


def thresholds(model: object) -> list[tuple[int, float, bool]]:
    """(feature, threshold, compares in float64) of every split of the model."""
    ensemble = ensemble_of(model)
    found = []
    for tree in ensemble.trees:
        branch = ~tree.leaf
        for f, t in zip(tree.feature[branch], tree.threshold[branch], strict=True):
            if np.isfinite(t):  # +inf: "NaN one way, every number the other"
                found.append((int(f), float(t), ensemble.double))
    return found


def probes(model: object, X: pd.DataFrame, nan: bool) -> tuple[pd.DataFrame, int]:
    """Rows of X with one feature set to a threshold's value, the float just below and
    just above (in the precision scikit-learn compares in); and how many of those rows
    a threshold rounded to the nearest float32 would send the wrong way."""
    rng = np.random.default_rng(1)
    splits = thresholds(model)
    picks = rng.choice(len(splits), size=min(len(splits), 1000), replace=False)
    base = X.to_numpy()[rng.integers(0, len(X), size=len(picks) * 3)].copy()
    wrong = 0
    for n, i in enumerate(picks):
        feature, t, double = splits[i]
        if double:
            values = [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)]
        else:
            below = float32_at_most(np.array([t]))[0]
            values = [float(below), float(np.nextafter(below, np.float32(np.inf)))]
            values.append(float(np.float32(t)))  # the nearest float32, either side
            # x == the nearest float32 above t: scikit-learn goes right, x <= nearest left
            wrong += int(float(np.float32(t)) > t)
        for k, v in enumerate(values):
            base[n * 3 + k, feature] = v
    jitter = X.to_numpy() * rng.normal(1, 0.05, size=X.shape)  # unseen values
    rows = np.vstack([X.to_numpy(), jitter, base])
    if nan:
        extra = rows[:500].copy()
        extra[np.random.default_rng(2).random(extra.shape) < 0.3] = np.nan
        rows = np.vstack([rows, extra])
    return frame(rows), wrong


def compiled_for(model: object, X: pd.DataFrame) -> CompiledModel:
    signature = Signature.infer(X, model=model).to_dict()
    result = compile_model(model, signature=signature, X=X)
    assert result.info.runtime == "onnx", result.info.describe()
    assert result.onnx is not None
    ops = {n.op_type for n in onnx.load_model_from_string(result.onnx).graph.node}
    assert "TreeEnsembleRegressor" in ops  # ours, not skl2onnx's TreeEnsembleClassifier
    return CompiledModel(result.onnx, result.info)


CASES = [
    ("forest", RandomForestClassifier(n_estimators=30, random_state=0), "multiclass", True),
    ("forest-binary", RandomForestClassifier(n_estimators=31, random_state=0), "binary", True),
    ("extra", ExtraTreesClassifier(n_estimators=30, random_state=0), "binary", False),
    ("tree", DecisionTreeClassifier(random_state=0), "multiclass", True),
    ("boosting", GradientBoostingClassifier(n_estimators=40, random_state=0), "binary", False),
    (
        "boosting-exp",
        GradientBoostingClassifier(n_estimators=40, loss="exponential", random_state=0),
        "binary",
        False,
    ),
    (
        "boosting-3",
        GradientBoostingClassifier(n_estimators=20, random_state=0),
        "multiclass",
        False,
    ),
    ("hist", HistGradientBoostingClassifier(max_iter=40, random_state=0), "binary", True),
    ("hist-3", HistGradientBoostingClassifier(max_iter=20, random_state=0), "multiclass", True),
    ("forest-reg", RandomForestRegressor(n_estimators=20, random_state=0), "regression", True),
    ("extra-reg", ExtraTreesRegressor(n_estimators=20, random_state=0), "regression", False),
    ("tree-reg", DecisionTreeRegressor(random_state=0), "regression", True),
    ("boosting-reg", GradientBoostingRegressor(random_state=0), "regression", False),
    ("hist-reg", HistGradientBoostingRegressor(max_iter=40, random_state=0), "regression", True),
]


@pytest.mark.parametrize(
    ("model", "task", "nan"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_answers_as_scikit_learn_at_every_threshold(model, task: str, nan: bool) -> None:
    X, y = data(task, bool(nan))
    model.fit(X, y)
    compiled = compiled_for(model, X)
    rows, wrong = probes(model, X, bool(nan))
    assert len(rows) >= 3000
    labels, proba = compiled.run(compiled.feed(rows), compiled.has_proba)
    expected = model.predict(rows)
    if task == "regression":
        np.testing.assert_allclose(labels, expected, rtol=0, atol=1e-5)
        return
    assert labels.tolist() == expected.tolist()  # every row, the same class
    assert np.abs(proba - model.predict_proba(rows)).max() <= 1e-5
    if not ensemble_of(model).double:
        # the probes can fail: thresholds rounded to the nearest float32 would branch
        # differently on some of them
        assert wrong > 0


def test_nan_goes_where_scikit_learn_sends_it() -> None:
    """Trained with NaN, a forest sends it left at some splits and right at others; the
    compiled model does the same, so rows with nulls stay on ONNX."""
    X, y = data("binary", nan=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    sides = np.concatenate([t.missing_left[~t.leaf] for t in ensemble_of(model).trees])
    assert sides.any()
    assert not sides.all()
    result = compile_model(model, signature=Signature.infer(X, model=model).to_dict(), X=X)
    assert result.info.nulls == "onnx", result.info.null_reason
    compiled = CompiledModel(result.onnx, result.info)
    rows = X.fillna(0).head(200).assign(x0=np.nan, x3=np.nan)
    labels, proba = compiled.run(compiled.feed(rows), True)
    assert labels.tolist() == model.predict(rows).tolist()
    assert np.abs(proba - model.predict_proba(rows)).max() <= 1e-5
    # ...without ONNX Runtime's slower loops: no split tracks missing values, all compare
    # the same way (NaN-left splits read the input's -inf copy instead)
    (trees,) = [n for n in onnx.load_model_from_string(result.onnx).graph.node if n.domain]
    attributes = {a.name: a for a in trees.attribute}
    assert "nodes_missing_value_tracks_true" not in attributes
    assert set(attributes["nodes_modes"].strings) == {b"BRANCH_LEQ", b"LEAF"}
    assert max(attributes["nodes_featureids"].ints) >= WIDTH  # the copy is read
    assert attributes["n_targets"].i == 1  # binary: p(second class) alone, one weight a leaf


def test_a_leaf_adds_its_nonzero_weights_only() -> None:
    """A pure leaf of a 3-class forest adds one weight, not three (adding 0 is exact)."""
    X, y = data("multiclass", nan=False)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    result = compile_model(model, signature=Signature.infer(X, model=model).to_dict(), X=X)
    assert result.info.runtime == "onnx", result.info.describe()
    (trees,) = [n for n in onnx.load_model_from_string(result.onnx).graph.node if n.domain]
    attributes = {a.name: a for a in trees.attribute}
    leaves = sum(m == b"LEAF" for m in attributes["nodes_modes"].strings)
    weights = attributes["target_weights"].floats
    assert len(weights) < 1.2 * leaves  # mostly pure leaves: about one weight each
    assert 0.0 not in weights
    assert attributes["n_targets"].i == 3


def test_float32_at_most_is_the_largest_float32_not_above() -> None:
    t = np.array([0.1, -0.1, 1.0, 1e-30, 2.5, np.float64(np.float32(0.3)), -3.4e38])
    got = float32_at_most(t)
    assert got.dtype == np.float32
    assert (got.astype(np.float64) <= t).all()
    assert (np.nextafter(got, np.float32(np.inf)).astype(np.float64) > t).all()
    assert got[2] == 1.0  # exact ones stay
    assert got[5] == np.float32(0.3)


def test_scalers_and_column_transformers_before_the_trees_still_convert() -> None:
    rng = np.random.default_rng(3)
    data_ = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 2000),
            "plan": rng.choice(["basic", "gold", "pro"], 2000),
            "spend": rng.gamma(2, 30, 2000),
        }
    )
    y = np.where((data_["age"] > 40) ^ (data_["plan"] == "gold"), "stay", "leave")
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "spend"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ]
        ),
        GradientBoostingClassifier(n_estimators=30, random_state=0),
    ).fit(data_, y)
    compiled = compiled_for(model, data_)
    labels, proba = compiled.run(compiled.feed(data_), True)
    assert labels.tolist() == model.predict(data_).tolist()  # text labels, as str
    assert np.abs(proba - model.predict_proba(data_)).max() <= 1e-5
    X, y2 = data("binary", nan=False)
    scaled = make_pipeline(StandardScaler(), RandomForestClassifier(20, random_state=0))
    scaled.fit(X, y2)
    compiled = compiled_for(scaled, X)
    labels, _ = compiled.run(compiled.feed(X), False)
    assert labels.tolist() == scaled.predict(X).tolist()


def test_categorical_hist_gradient_boosting_keeps_scikit_learn_and_says_why() -> None:
    X, y = data("binary", nan=False)
    X["plan"] = pd.Categorical(np.random.default_rng(0).choice(["a", "b", "c"], len(X)))
    model = HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype")
    model.fit(X, y)
    result = compile_model(model, signature=Signature.infer(X, model=model).to_dict(), X=X)
    assert result.info.runtime == "sklearn"
    assert "categorical" in (result.info.reason or ""), result.info.reason
    assert "HistGradientBoostingClassifier" in (result.info.reason or "")


@pytest.mark.parametrize("double", [False, True])
def test_attribute_bytes_parse_to_the_protos_built_one_element_at_a_time(double: bool) -> None:
    """The tree arrays are written in protobuf's wire format with NumPy (varints,
    packed arrays); parsed back they are the attributes onnx's own API would build."""
    from onnx import AttributeProto, NodeProto, numpy_helper

    from deploykit.compile._trees import attribute_arrays, attribute_bytes

    X, y = data("multiclass", nan=True)
    ensemble = ensemble_of(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y))
    ensemble.trees[0].feature[0] = 300  # a two-byte varint among the one-byte ones
    ensemble.trees[0].missing_left[0] = False  # read as is (NaN-left splits read 300 + width)
    expected = NodeProto()
    for name, kind, values in attribute_arrays(ensemble, double):
        if kind == "ints":
            expected.attribute.add(name=name, type=AttributeProto.INTS).ints.extend(
                values.astype(np.int64).tolist()
            )
        elif kind == "floats":
            expected.attribute.add(name=name, type=AttributeProto.FLOATS).floats.extend(
                values.tolist()
            )
        elif kind == "tensor":
            attr = expected.attribute.add(name=name, type=AttributeProto.TENSOR)
            attr.t.CopyFrom(numpy_helper.from_array(values))
        else:
            attr = expected.attribute.add(name=name, type=AttributeProto.STRINGS)
            attr.strings.extend(np.where(values, b"LEAF", b"BRANCH_LEQ").tolist())
    got = NodeProto()
    got.MergeFromString(attribute_bytes(ensemble, double))
    assert got == expected
    assert max(got.attribute[2].ints) == 300
