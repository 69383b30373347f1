import inspect
import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import LinearSVC

from deploykit.errors import AliasNotFoundError, EvaluationError, GateError, ModelNotFoundError
from deploykit.evaluation import TASK_METRICS, EvaluationReport, Gate, evaluate


def sk_log_loss(y, proba, **kwargs):
    # scikit-learn 1.9 renamed log_loss's y_pred to y_proba; the old name warns.
    key = "y_proba" if "y_proba" in inspect.signature(skm.log_loss).parameters else "y_pred"
    return skm.log_loss(y, **{key: proba}, **kwargs)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    y = np.where(y == 1, "yes", "no")  # string labels: the positive class is the greater, "yes"
    model = LogisticRegression().fit(X, y)
    return model, X, y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return LogisticRegression(max_iter=500).fit(X, y), X, y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return Ridge().fit(X, y), X, y


def classification_expectations(y, y_pred, sw=None, **average):
    return {
        "accuracy": skm.accuracy_score(y, y_pred, sample_weight=sw),
        "balanced_accuracy": skm.balanced_accuracy_score(y, y_pred, sample_weight=sw),
        **{
            f"{name}_{avg}": fn(y, y_pred, average=avg, zero_division=0, sample_weight=sw)
            for name, fn in (
                ("precision", skm.precision_score),
                ("recall", skm.recall_score),
                ("f1", skm.f1_score),
            )
            for avg in ("macro", "weighted")
        },
    }


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_metrics_match_sklearn(binary, weighted):
    model, X, y = binary
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    report = evaluate(model, X, y, sample_weight=sw)

    y_pred, proba = model.predict(X), model.predict_proba(X)[:, 1]
    expected = classification_expectations(y, y_pred, sw)
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        expected[name] = fn(y, y_pred, pos_label="yes", zero_division=0, sample_weight=sw)
    expected["roc_auc"] = skm.roc_auc_score(y == "yes", proba, sample_weight=sw)
    expected["log_loss"] = sk_log_loss(y, model.predict_proba(X), sample_weight=sw)

    assert report.task == "binary"
    assert report.n_samples == 400
    assert list(report.metrics) == list(TASK_METRICS["binary"])
    assert report.metrics == pytest.approx(expected, rel=1e-12)
    assert report.labels == ["no", "yes"]
    assert report.confusion_matrix == skm.confusion_matrix(y, y_pred, labels=["no", "yes"]).tolist()


def test_multiclass_metrics_match_sklearn(iris):
    model, X, y = iris
    report = evaluate(model, X, y)

    y_pred, proba = model.predict(X), model.predict_proba(X)
    expected = classification_expectations(y, y_pred)
    expected["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    expected["log_loss"] = sk_log_loss(y, proba)

    assert report.task == "multiclass"
    assert not {"precision", "recall", "f1"} & set(report.metrics)
    assert report.metrics == pytest.approx(expected, rel=1e-12)
    assert report.labels == [0, 1, 2]
    assert all(type(label) is int for label in report.labels)
    assert report.confusion_matrix == skm.confusion_matrix(y, y_pred).tolist()


def test_regression_metrics_match_sklearn(diabetes):
    model, X, y = diabetes
    report = evaluate(model, X, y)

    y_pred = model.predict(X)
    assert report.task == "regression"
    assert report.metrics == pytest.approx(
        {
            "rmse": skm.root_mean_squared_error(y, y_pred),
            "mae": skm.mean_absolute_error(y, y_pred),
            "r2": skm.r2_score(y, y_pred),
            "mape": skm.mean_absolute_percentage_error(y, y_pred),
            "max_error": skm.max_error(y, y_pred),
        },
        rel=1e-12,
    )
    assert report.confusion_matrix is None
    # The mean predictor, scored on the data it was fitted on, explains nothing.
    assert report.baseline["r2"] == pytest.approx(0.0, abs=1e-12)
    assert report.baseline["rmse"] == pytest.approx(np.std(y))


def test_mape_is_omitted_with_a_note_when_y_has_zeros(diabetes):
    _, X, y = diabetes
    y = y - y.iloc[0]  # one target is now exactly zero
    report = evaluate(LinearRegression().fit(X, y), X, y)
    assert "mape" not in report.metrics
    assert "mape" not in report.baseline
    assert any(note.startswith("mape omitted") for note in report.notes)


def test_classifier_baseline_is_the_class_prior(binary):
    model, X, y = binary
    report = evaluate(model, X, y)
    majority = max(np.mean(y == "yes"), np.mean(y == "no"))
    assert report.baseline["accuracy"] == pytest.approx(majority)
    assert report.baseline["roc_auc"] == 0.5
    assert report.improved("accuracy", "baseline") is True


def test_roc_auc_from_decision_function_when_there_is_no_predict_proba(binary):
    _, X, y = binary
    model = LinearSVC().fit(X, y)
    report = evaluate(model, X, y)
    assert report.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y == "yes", model.decision_function(X))
    )
    assert "log_loss" not in report.metrics
    assert any(note.startswith("log_loss omitted") for note in report.notes)


def test_a_model_that_never_predicts_the_positive_class_scores_zero_without_warnings(binary):
    _, X, y = binary
    never_yes = DummyClassifier(strategy="constant", constant="no").fit(X, y)
    report = evaluate(never_yes, X, y)  # pytest turns any UndefinedMetricWarning into a failure
    assert report.metrics["precision"] == 0.0
    assert report.metrics["f1"] == 0.0


class CountingLR(LogisticRegression):
    calls: list[str]

    def predict(self, X):
        self.calls.append("predict")
        return super().predict(X)

    def predict_proba(self, X):
        self.calls.append("predict_proba")
        return super().predict_proba(X)


def test_each_prediction_method_is_called_once():
    X, y = make_classification(n_samples=10_000, n_features=20, random_state=0)
    model = CountingLR().fit(X, y)
    model.calls = []
    evaluate(model, X, y, gate="roc_auc>=0.5; accuracy>baseline")
    assert sorted(model.calls) == ["predict", "predict_proba"]


class FakeRegistry:
    """Stands for the registry protocol: version(name, alias) and load(name, alias)."""

    class Record:
        def __init__(self, version):
            self.version = version

    def __init__(self, models=None, error=None):
        self.models, self.error, self.asked = models or {}, error, []

    def version(self, name, alias):
        self.asked.append((name, alias))
        if self.error is not None:
            raise self.error
        return self.Record(max(self.models))

    def load(self, name, alias):
        return self.models[max(self.models)]


def test_production_model_is_scored_on_the_same_data(binary):
    model, X, y = binary
    live = LogisticRegression(C=0.001).fit(X, y)
    report = evaluate(model, X, y, against=FakeRegistry({3: live}), name="churn")

    assert report.production_version == 3
    assert report.production_note is None
    assert report.production == evaluate(live, X, y).metrics
    assert report.delta()["accuracy"] == pytest.approx(
        report.metrics["accuracy"] - report.production["accuracy"]
    )


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (ModelNotFoundError("No model named 'churn'."), "model 'churn' has not been pushed"),
        (AliasNotFoundError("No alias 'production'."), "model 'churn' is not deployed"),
    ],
)
def test_no_production_version_is_noted_not_raised(binary, error, why):
    model, X, y = binary
    registry = FakeRegistry(error=error)
    report = evaluate(model, X, y, against=registry, name="churn")
    assert registry.asked == [("churn", "production")]
    assert report.production is None
    assert report.production_version is None
    assert report.production_note == f"no production version to compare with yet: {why}"
    assert report.delta() == {}


def test_a_live_model_that_cannot_score_the_data_is_noted(binary):
    model, X, y = binary
    live = LogisticRegression().fit(X.rename(columns={"f0": "age"}), y)
    report = evaluate(model, X, y, against=FakeRegistry({2: live}), name="churn")
    assert report.production is None
    assert report.production_version == 2
    assert "could not be evaluated on this data" in report.production_note
    assert "'age'" in report.production_note


def test_against_needs_a_name(binary):
    model, X, y = binary
    with pytest.raises(EvaluationError, match="The 'name' parameter of evaluate"):
        evaluate(model, X, y, against=FakeRegistry({1: model}))


def test_production_comparison_with_the_real_registry(tmp_path, binary):
    from deploykit.registry import Registry

    model, X, y = binary
    live = LogisticRegression(C=0.01).fit(X, y)
    with Registry(home=tmp_path) as registry:
        first = evaluate(live, X, y, against=registry, name="churn")
        assert first.production is None
        assert first.production_note.startswith("no production version to compare with")

        registry.push(live, "churn", deploy=True)
        report = evaluate(model, X, y, against=registry, name="churn", gate="f1>=production")

    assert report.production_version == 1
    assert report.production == evaluate(live, X, y).metrics
    assert report.gate.passed is (report.metrics["f1"] >= report.production["f1"])


def test_cv_reports_mean_and_std_like_cross_val_score(binary):
    model, X, y = binary
    report = evaluate(model, X, y, cv=4)

    splits = StratifiedKFold(4)
    for metric, scoring in (("accuracy", "accuracy"), ("roc_auc", "roc_auc")):
        scores = cross_val_score(clone(model), X, y, cv=splits, scoring=scoring)
        assert report.cv[metric]["mean"] == pytest.approx(scores.mean())
        assert report.cv[metric]["std"] == pytest.approx(scores.std())
    assert set(report.cv) == set(TASK_METRICS["binary"])


def test_cv_for_regression(diabetes):
    model, X, y = diabetes
    report = evaluate(model, X, y, cv=3)
    scores = -cross_val_score(clone(model), X, y, cv=3, scoring="neg_root_mean_squared_error")
    assert report.cv["rmse"]["mean"] == pytest.approx(scores.mean())


@pytest.mark.parametrize("cv", [1, 0, True, 2.5, "5"])
def test_cv_must_be_an_int_of_at_least_two(binary, cv):
    model, X, y = binary
    with pytest.raises(EvaluationError) as info:
        evaluate(model, X, y, cv=cv)
    assert str(info.value) == (
        f"The 'cv' parameter of evaluate must be an int >= 2. Got {cv!r} instead."
    )


def test_more_folds_than_rows_of_a_class_is_a_clear_error(iris):
    model, X, y = iris
    keep = np.r_[0:50, 50:53, 100:150]  # only three rows of class 1
    with pytest.raises(
        EvaluationError, match="cv=5 needs at least 5 rows of every class, but class 1 has only 3"
    ):
        evaluate(model, X.iloc[keep], y.iloc[keep], cv=5)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m, X, y: (m, X, y[:-1]), "X has 400 rows but y has 399"),
        (lambda m, X, y: (m, X.iloc[:0], y[:0]), "X and y are empty"),
        (lambda m, X, y: (LogisticRegression(), X, y), "LogisticRegression is not fitted yet"),
        (
            lambda m, X, y: (m, X.rename(columns={"f1": "income"}), y),
            r"missing \['f1'\], unexpected \['income'\]",
        ),
        (lambda m, X, y: (m, X[["f0", "f1", "f2"]], y), r"missing \['f3', 'f4', 'f5'\]"),
        (
            lambda m, X, y: (m, X.to_numpy()[:, :5], y),
            "LogisticRegression expects 6 features .columns. but X has 5",
        ),
        (lambda m, X, y: (m, X, np.where(np.arange(400) < 3, None, y)), "y has 3 missing"),
        (
            lambda m, X, y: (m, X, np.linspace(0, 1, 400)),
            "LogisticRegression is a classifier but y is continuous",
        ),
    ],
    ids=["lengths", "empty", "unfitted", "renamed", "missing", "n_features", "nan_y", "cont_y"],
)
def test_bad_input_is_one_line(binary, mutate, message):
    model, X, y = mutate(*binary)
    with pytest.raises(EvaluationError, match=message) as info:
        evaluate(model, X, y)
    assert "\n" not in str(info.value)


def test_numpy_x_for_a_numpy_model_with_wrong_width_is_caught_before_sklearn(diabetes):
    _, X, y = diabetes
    model = Ridge().fit(X.to_numpy(), y)
    with pytest.raises(EvaluationError, match="Ridge expects 10 features"):
        evaluate(model, X.to_numpy()[:, :4], y)


def test_gate_result_is_stored_in_the_report(binary):
    model, X, y = binary
    report = evaluate(model, X, y, gate="roc_auc>=0.5; accuracy>baseline+0.05; f1>=production")
    assert report.gate.passed
    assert report.gate.summary().startswith("gate passed (2/2 checked, 1 not checked")
    failing = evaluate(model, X, y, gate=Gate.parse("roc_auc>=0.999"))
    assert not failing.gate.passed
    assert (
        failing.gate.summary() == f"gate failed: roc_auc {failing.metrics['roc_auc']:.4g} < 0.999"
    )


def test_a_gate_on_a_metric_of_another_task_fails_before_any_prediction(binary):
    _, X, y = binary
    model = CountingLR().fit(X, y)
    model.calls = []
    with pytest.raises(GateError, match="rmse is not a metric of binary evaluation; available"):
        evaluate(model, X, y, gate="rmse<=3")
    assert model.calls == []


def test_report_survives_a_json_round_trip(binary):
    model, X, y = binary
    report = evaluate(
        model,
        X,
        y,
        cv=3,
        gate="roc_auc>=0.8; log_loss<=production",
        against=FakeRegistry({4: LogisticRegression(C=0.1).fit(X, y)}),
        name="churn",
    )
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert EvaluationReport.from_dict(json.loads(text)) == report


def test_labels_of_another_type_than_the_models_are_an_error_not_a_zero_score(iris):
    model, X, y = iris
    with pytest.raises(EvaluationError, match="predicts labels such as 0 but y holds labels such"):
        evaluate(model, X, np.array(["setosa", "versicolor", "virginica"])[y])


def test_a_class_missing_from_y_omits_roc_auc_with_a_note(iris):
    model, X, y = iris
    report = evaluate(model, X[:100], y[:100])  # classes 0 and 1 only; the model knows 3
    assert report.task == "multiclass"
    assert "roc_auc" not in report.metrics
    assert any(note.startswith("roc_auc omitted") for note in report.notes)
    assert report.metrics["accuracy"] == skm.accuracy_score(y[:100], model.predict(X[:100]))


def test_string_labels_name_the_positive_class(binary):
    model, X, y = binary  # labels "no" / "yes"
    report = evaluate(model, X, y)
    assert report.notes[0] == (
        "positive class: 'yes' (the greater label, classes_[1]); precision, recall and f1 "
        "are about it"
    )
    assert report.metrics["recall"] == pytest.approx(
        skm.recall_score(y, model.predict(X), pos_label="yes")
    )
    numbers = (y == "yes").astype(int)
    numeric = evaluate(LogisticRegression().fit(X, numbers), X, numbers)
    assert not any(n.startswith("positive class") for n in numeric.notes)  # 0/1 says it itself
