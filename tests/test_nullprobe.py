"""Nullability that matches the model: probed at push, overridable, old signatures unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from deploykit.errors import InvalidInputError, SignatureError
from deploykit.registry import Registry
from deploykit.signature import Signature

rng = np.random.default_rng(0)
X = pd.DataFrame(
    {
        "age": rng.integers(18, 80, 200),
        "income": rng.normal(50, 10, 200),
        "plan": rng.choice(["basic", "gold"], 200),
        "member": rng.random(200) < 0.5,
    }
)
y = (X["income"] > 50).to_numpy()


def imputed() -> object:
    pre = make_column_transformer(
        (SimpleImputer(), ["age", "income"]),
        (
            make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()),
            ["plan", "member"],
        ),
    )
    return make_pipeline(pre, LogisticRegression()).fit(X, y)


def nullability(signature: Signature) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.nullable, c.nullable_by) for c in signature.inputs}


def test_a_pipeline_with_imputers_takes_nulls_in_every_column() -> None:
    model = imputed()
    signature = Signature.infer(X, model)
    assert nullability(signature) == dict.fromkeys(X.columns, (True, "probe"))
    assert signature.probe["rows"] == 3
    assert signature.probe["predict_calls"] == 1  # all passed at once
    row = {"age": None, "income": None, "plan": None, "member": None}
    frame = signature.validate([row, {"age": 30, "income": 1.0, "plan": "gold", "member": True}])
    # int and bool columns with a gap arrive as pandas would hold them: float64, object
    assert [str(t) for t in frame.dtypes[["age", "member"]]] == ["float64", "object"]
    assert np.isnan(frame["age"].iloc[0])
    assert frame["member"].tolist()[1] is True
    assert model.predict(frame).shape == (2,)


def test_a_model_without_imputers_refuses_them_and_says_it_was_probed() -> None:
    numeric = X[["age", "income"]]
    signature = Signature.infer(numeric, LogisticRegression().fit(numeric, y))
    assert nullability(signature) == {"age": (False, "probe"), "income": (False, "probe")}
    assert signature.probe["predict_calls"] == 3  # all at once, then one per column
    with pytest.raises(SignatureError) as excinfo:
        signature.validate([{"age": 30, "income": None}])
    assert excinfo.value.problems == [
        "column 'income': null values at row 0 but the model failed on nulls there when "
        "probed at push"
    ]


def test_native_nan_support_passes_and_nan_predictions_fail() -> None:
    numeric = X[["age", "income"]].astype(float)
    hgb = Signature.infer(numeric, HistGradientBoostingRegressor(max_iter=5).fit(numeric, y))
    assert nullability(hgb)["income"] == (True, "probe")

    class NanOut(LinearRegression):  # predicts, but NaN in gives NaN out: not a real answer
        def predict(self, X: object) -> np.ndarray:
            return np.asarray(X, dtype=float).sum(axis=1)

    odd = NanOut().fit(numeric, y)
    assert nullability(Signature.infer(numeric, odd))["income"] == (False, "probe")


def test_the_user_overrides_and_old_signatures_keep_their_meaning() -> None:
    numeric = X[["age", "income"]]
    model = LogisticRegression().fit(numeric, y)
    signature = Signature.infer(numeric, model, nullable=["income"])
    assert nullability(signature)["income"] == (True, "user")
    assert signature.to_dict()["inputs"][1]["nullable_by"] == "user"
    with pytest.raises(InvalidInputError, match=r"names column\(s\) 'incme' the model does not"):
        Signature.infer(numeric, model, nullable=["incme"])
    old = {"kind": "dataframe", "inputs": [{"name": "a", "dtype": "float64", "nullable": False}]}
    loaded = Signature.from_dict(old)
    assert nullability(loaded) == {"a": (False, "data")}
    assert loaded.to_dict() == {**old, "output": {}}  # unchanged on the way back


def test_push_takes_nullable_and_signature(tmp_path) -> None:
    numeric = X[["age", "income"]]
    model = LogisticRegression().fit(numeric, y)
    with Registry(home=tmp_path / "home") as reg:
        version = reg.push(model, "lr", X=numeric, nullable=["age"])
        by = {c["name"]: c.get("nullable_by") for c in version.signature["inputs"]}
        assert by == {"age": "user", "income": "probe"}
        given = Signature.infer(numeric, model, probe=False)
        version = reg.push(model, "lr", signature=given, nullable=["income"])
        assert [c["nullable"] for c in version.signature["inputs"]] == [False, True]
        with pytest.raises(InvalidInputError, match="'nullable' parameter needs the training"):
            reg.push(model, "lr", nullable=["age"])


def test_a_slow_model_is_probed_column_by_column_only_within_the_budget(monkeypatch) -> None:
    from deploykit import _nullprobe

    monkeypatch.setattr(_nullprobe, "MAX_SECONDS", 0.0)
    numeric = X[["age", "income"]]
    signature = Signature.infer(numeric, LogisticRegression().fit(numeric, y))
    # the all-at-once call failed; no time left for one call per column: the data decides
    assert nullability(signature) == {"age": (False, "data"), "income": (False, "data")}
    assert signature.probe["predict_calls"] == 1
    assert signature.probe["columns"] == 0
