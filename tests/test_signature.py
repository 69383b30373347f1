import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from deploykit.errors import InvalidInputError, NotAnEstimatorError, SignatureError
from deploykit.signature import ColumnSpec, Signature


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    data = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 5, n),
            "visits": rng.integers(0, 9, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) > 0.5,
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        }
    )
    data.loc[7, "income"] = np.nan
    return data


@pytest.fixture
def signature(frame: pd.DataFrame) -> Signature:
    return Signature.infer(frame)


def row(**changes: object) -> dict[str, object]:
    base = {"age": 30.5, "income": 52.0, "visits": 3, "city": "lyon", "member": True}
    return {**base, "plan": "pro", **changes}


def problems(signature: Signature, data: object) -> list[str]:
    with pytest.raises(SignatureError) as info:
        signature.validate(data)
    return info.value.problems


# -- infer ---------------------------------------------------------------------------


def test_infer_from_dataframe_records_columns_dtypes_nulls_and_categories(signature):
    specs = {c.name: c for c in signature.inputs}
    assert signature.kind == "dataframe"
    assert signature.columns == ["age", "income", "visits", "city", "member", "plan"]
    assert (specs["age"].dtype, specs["age"].nullable) == ("float64", False)
    assert specs["income"].nullable is True
    assert specs["visits"].dtype == "int64"
    assert specs["member"].family == "bool"
    assert specs["city"].family == "string"
    assert specs["city"].categories == ("lyon", "nice", "paris")
    assert specs["plan"].dtype == "category"
    assert specs["plan"].categories == ("basic", "pro")


def test_infer_leaves_high_cardinality_strings_without_categories():
    ids = pd.DataFrame({"id": [f"user-{i}" for i in range(100)]})
    (spec,) = Signature.infer(ids).inputs
    assert spec.family == "string"
    assert spec.categories is None


def test_infer_from_array_names_columns_f0_to_fn():
    X = np.random.default_rng(0).normal(size=(30, 4))
    signature = Signature.infer(X)
    assert signature.kind == "array"
    assert signature.columns == ["f0", "f1", "f2", "f3"]
    assert {c.dtype for c in signature.inputs} == {"float64"}


@pytest.mark.parametrize("X", [np.arange(10.0), pd.Series([1.0, 2.0]), np.zeros((2, 2, 2))])
def test_infer_refuses_data_that_is_not_2d(X):
    with pytest.raises(InvalidInputError, match="2-D"):
        Signature.infer(X)


def test_infer_describes_a_classifier_output():
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    model = LogisticRegression().fit(X, y)
    output = Signature.infer(X, model).output
    assert output == {"kind": "classes", "dtype": "int64", "classes": [0, 1], "probabilities": True}


def test_infer_describes_a_regressor_output():
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    output = Signature.infer(X, LinearRegression().fit(X, y)).output
    assert output == {"kind": "values", "dtype": "float64", "probabilities": False}


def test_infer_names_array_columns_after_a_model_fitted_on_a_frame(frame):
    X = frame[["age", "visits"]]
    model = LinearRegression().fit(X, frame["income"].fillna(0))
    signature = Signature.infer(X.to_numpy(), model)
    assert signature.kind == "dataframe"
    assert signature.columns == ["age", "visits"]


def test_a_frame_for_a_model_fitted_on_an_array_validates_to_an_array(frame):
    X = frame[["age", "visits"]]
    model = LinearRegression().fit(X.to_numpy(), frame["income"].fillna(0))
    signature = Signature.infer(X, model)
    assert signature.kind == "array"
    validated = signature.validate([{"age": 31.0, "visits": 2}])
    assert isinstance(validated, np.ndarray)
    # pytest turns warnings into errors: sklearn's "X has feature names" would fail here
    assert model.predict(validated).shape == (1,)


def test_infer_refuses_an_object_without_predict(frame):
    with pytest.raises(NotAnEstimatorError, match="must have a predict method"):
        Signature.infer(frame, model=object())


def test_infer_refuses_data_the_model_was_not_fitted_on(frame):
    model = LinearRegression().fit(frame[["age", "visits"]], frame["age"])
    with pytest.raises(InvalidInputError, match="fitted on 2 features but X has 3 columns"):
        Signature.infer(frame[["age", "visits", "income"]], model)


# -- validate: what comes back ---------------------------------------------------------


def test_validate_returns_training_columns_order_and_dtypes(signature, frame):
    shuffled = frame.iloc[:5][["plan", "city", "age", "member", "visits", "income"]]
    validated = signature.validate(shuffled)
    assert list(validated.columns) == signature.columns
    assert validated.dtypes.tolist() == frame.dtypes.tolist()
    pd.testing.assert_frame_equal(validated, frame.iloc[:5])


@pytest.mark.parametrize(
    "shape",
    ["records", "rows", "columns", "one record"],
)
def test_validate_accepts_json_shapes(signature, frame, shape):
    first = frame.iloc[:3]
    records = json.loads(first.to_json(orient="records"))
    data = {
        "records": records,
        "rows": [list(r.values()) for r in records],
        "columns": {c: [r[c] for r in records] for c in records[0]},
        "one record": records[0],
    }[shape]
    validated = signature.validate(data)
    assert validated.dtypes.tolist() == frame.dtypes.tolist()
    expected = first if shape != "one record" else first.iloc[:1]
    pd.testing.assert_frame_equal(validated, expected.reset_index(drop=True), check_exact=False)


def test_validate_output_predicts_like_the_training_frame():
    X, y = make_classification(n_samples=60, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, y)
    signature = Signature.infer(frame, model)
    validated = signature.validate(frame.to_dict(orient="records"))
    np.testing.assert_array_equal(model.predict(validated), model.predict(frame))


def test_ints_are_accepted_for_float_columns(signature):
    validated = signature.validate([row(age=30, income=50)])
    assert validated["age"].dtype == np.float64
    assert validated["age"].iloc[0] == 30.0


def test_integral_floats_are_accepted_for_int_columns(signature):
    assert signature.validate([row(visits=4.0)])["visits"].tolist() == [4]


def test_nullable_columns_accept_nulls(signature):
    validated = signature.validate([row(income=None)])
    assert np.isnan(validated["income"].iloc[0])


def test_unseen_categories_are_kept_and_counted(signature):
    validated = signature.validate([row(plan="enterprise", city="brest"), row()])
    assert validated["plan"].tolist() == ["enterprise", "pro"]
    assert validated["plan"].cat.categories.tolist()[:2] == ["basic", "pro"]  # codes kept
    assert signature.unseen_categories(validated) == {"plan": 1, "city": 1}


def test_object_columns_stay_object():
    frame = pd.DataFrame({"name": pd.Series(["a", "b", None], dtype=object)})
    signature = Signature.infer(frame)
    assert signature.validate([["c"], [None]])["name"].dtype == object


def test_datetime_columns_take_iso_strings():
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-01", "2024-06-01"])})
    signature = Signature.infer(frame)
    validated = signature.validate({"at": ["2024-03-01T12:00:00", "2024-03-02"]})
    assert validated["at"].dtype == frame["at"].dtype
    assert validated["at"].iloc[0] == pd.Timestamp("2024-03-01 12:00")
    assert problems(signature, {"at": ["soon"]}) == [
        "column 'at': expected datetime64[us], got 'soon' (row 0)"
    ]


def test_extra_columns_are_dropped_when_allowed(signature):
    validated = signature.validate([row(request_id="r-1")], allow_extra=True)
    assert list(validated.columns) == signature.columns


# -- validate: messages ----------------------------------------------------------------


def test_wrong_type_names_column_expected_value_and_row(signature):
    data = [row(), row(), row(), row(age="abc")]
    assert problems(signature, data) == ["column 'age': expected float64, got 'abc' (row 3)"]


def test_numbers_sent_as_strings_are_refused_with_a_hint(signature):
    (message,) = problems(signature, [row(income="1.5")])
    assert (
        message == "column 'income': expected float64, got '1.5' (row 0) (numbers sent as strings)"
    )
    with pytest.raises(SignatureError) as info:
        signature.validate([row(income="1.5")])
    assert str(info.value).endswith(
        "Numbers arrived as strings: send JSON numbers, not strings "
        "(in pandas, convert with X.astype(float))."
    )


def test_many_problems_make_one_short_message_with_the_hint_once():
    columns = [f"c{i}" for i in range(30)]
    signature = Signature.infer(pd.DataFrame(np.zeros((3, 30)), columns=columns))
    with pytest.raises(SignatureError) as info:
        signature.validate(pd.DataFrame(np.zeros((3, 30)), columns=columns).astype(str))
    assert len(info.value.problems) == 30  # every problem is kept for callers that list them
    message = str(info.value)
    assert "column 'c4'" in message
    assert "column 'c5'" not in message
    assert "and 25 more problem(s)." in message
    assert message.count("Numbers arrived as strings") == 1
    assert len(message) < 600


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"age": True}, "column 'age': expected float64, got True (row 0)"),
        ({"visits": 2.5}, "column 'visits': expected int64, got 2.5 (row 0)"),
        ({"member": 1}, "column 'member': expected bool, got 1 (row 0)"),
        ({"city": 7}, "column 'city': expected string, got 7 (row 0)"),
        ({"plan": 3}, "column 'plan': expected category, got 3 (row 0)"),
    ],
)
def test_each_type_is_checked(signature, changes, expected):
    assert problems(signature, [row(**changes)]) == [expected]


def test_missing_columns_are_listed_together(signature):
    record = row()
    del record["age"], record["income"]
    assert problems(signature, [record]) == ["missing columns: 'age', 'income'"]


def test_unexpected_column_suggests_the_missing_one(signature):
    record = row()
    record["agee"] = record.pop("age")
    assert problems(signature, [record]) == [
        "missing column: 'age'",
        "unexpected column 'agee' (did you mean 'age'?)",
    ]


def test_nulls_in_a_column_trained_without_them(signature):
    data = [row(), row(), row(age=None), row(), row(), row(age=float("nan"))]
    assert problems(signature, data) == [
        "column 'age': null values at rows 2, 5 but the model was trained without nulls"
    ]


def test_long_row_lists_are_cut_after_five(signature):
    data = [row(age="x") for _ in range(8)]
    assert problems(signature, data) == [
        "column 'age': expected float64, got 'x' (rows 0, 1, 2, 3, 4 and 3 more)"
    ]


def test_every_problem_is_reported_at_once(signature):
    record = row(age="abc", visits=1.5, member="yes")
    record["zzz"] = 1
    with pytest.raises(SignatureError) as info:
        signature.validate([record])
    error = info.value
    assert len(error.problems) == 4
    assert isinstance(error, ValueError)
    assert all(p in str(error) for p in error.problems)


def test_wrong_width_names_the_expected_columns():
    signature = Signature.infer(np.zeros((3, 20)))
    assert problems(signature, [[0.0] * 19]) == ["expected 20 columns (f0…f19), got 19"]
    assert problems(signature, np.zeros((2, 19))) == ["expected 20 columns (f0…f19), got 19"]
    assert problems(signature, [[0.0] * 20, [0.0] * 19]) == [
        "expected 20 columns (f0…f19), got 19 at row 1"
    ]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "the input has no rows"),
        ([1.0, 2.0], "wrap one row in a list"),
        ("age=3", "got str"),
    ],
)
def test_unusable_shapes_are_explained(signature, data, fragment):
    (message,) = problems(signature, data)
    assert fragment in message


def test_int_values_out_of_the_training_range_are_refused():
    signature = Signature.infer(pd.DataFrame({"small": np.array([1, 2], dtype=np.uint8)}))
    assert problems(signature, {"small": [300, -1]}) == [
        "column 'small': expected uint8, got 300 (row 0), -1 (row 1)"
    ]


def test_validate_columns_checks_names_only(signature):
    signature.validate_columns(signature.columns)
    with pytest.raises(SignatureError, match="unexpected column 'cty'"):
        signature.validate_columns([c if c != "city" else "cty" for c in signature.columns])


# -- array signatures ------------------------------------------------------------------


def test_array_signature_returns_float_arrays():
    X = np.random.default_rng(0).normal(size=(10, 3))
    signature = Signature.infer(X)
    assert signature.validate(X) is X  # already right: no copy
    validated = signature.validate([[1, 2, 3.5]])
    assert validated.dtype == np.float64
    np.testing.assert_array_equal(validated, [[1.0, 2.0, 3.5]])
    assert problems(signature, [[1.0, None, 2.0]]) == [
        "column 'f1': null values at row 0 but the model was trained without nulls"
    ]


# -- serialization ---------------------------------------------------------------------


def test_round_trip_through_json(signature):
    X, y = make_classification(n_samples=40, n_features=3, n_redundant=0, random_state=0)
    with_output = Signature.infer(X, LogisticRegression().fit(X, y))
    for original in (signature, with_output):
        restored = Signature.from_dict(json.loads(json.dumps(original.to_dict())))
        assert restored == original


def test_a_restored_signature_validates_like_the_original(signature):
    restored = Signature.from_dict(json.loads(json.dumps(signature.to_dict())))
    data = [row(), row(age="abc")]
    assert problems(restored, data) == problems(signature, data)
    pd.testing.assert_frame_equal(restored.validate([row()]), signature.validate([row()]))


def test_column_spec_defaults_its_family_from_the_dtype():
    assert ColumnSpec("x", "float32", False).family == "float"
    assert ColumnSpec("x", "Int64", True).family == "int"
    assert ColumnSpec("x", "object", True).family == "object"
