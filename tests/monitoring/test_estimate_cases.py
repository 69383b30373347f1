"""A case seen again (identical inputs) has one label: the band of an estimate counts
its rows once, and only when the inputs (or scores) really tell cases apart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from deploykit.evaluation import evaluate
from deploykit.monitoring.calibration import CalibrationEvidence
from deploykit.monitoring.cases import describe, window_cases
from deploykit.monitoring.estimate import ErrorModel, estimate_classification
from deploykit.monitoring.performance import EstimatedPerformance
from deploykit.registry import Registry
from deploykit.settings import Settings
from tests.monitoring.logged import write_scored_log

WEIGHTS = np.array([1.5, -1.0, 0.8, 0.5, 0.0])


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cases whose labels follow a known logistic law."""
    X = rng.normal(size=(n, len(WEIGHTS)))
    return X, (rng.random(n) < 1 / (1 + np.exp(-(X @ WEIGHTS)))).astype(int)


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, CalibrationEvidence]:
    rng = np.random.default_rng(0)
    X, y = draw(rng, 8000)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    return model, CalibrationEvidence.from_dict(evaluate(model, X[3000:], y[3000:]).evidence)


def test_a_window_of_few_cases_seen_many_times_gets_a_band_that_covers(fitted) -> None:
    # 4,000 logged rows from 150 cases: their 150 labels decide the realized accuracy,
    # which moves as a mean of 150 labels, not 4,000. A band counting rows covers it
    # far less often than it claims; counting cases, about as often.
    model, evidence = fitted
    assert evidence.input_repeats == 0
    assert evidence.score_repeats == 0
    rng = np.random.default_rng(1)
    by_case = by_row = 0
    draws = 40
    for _ in range(draws):
        cases_X, cases_y = draw(rng, 150)
        rows = rng.integers(0, 150, size=4000)
        X, y = cases_X[rows], cases_y[rows]
        proba, pred = model.predict_proba(X), model.predict(X).astype(str)
        realized = skm.accuracy_score(y.astype(str), pred)
        cases = window_cases(evidence, X)
        assert cases is not None
        assert cases.key == "inputs"
        assert cases.share == 1.0
        assert cases.distinct <= 150
        assert cases.effective_rows < 160
        by_case += estimate_classification(evidence, proba, pred, cases=cases)["accuracy"].covers(
            realized
        )
        by_row += estimate_classification(evidence, proba, pred)["accuracy"].covers(realized)
        # the inputs not logged: the scores of a logistic model tell the cases apart too
        by_scores = window_cases(evidence, scores=proba)
        assert by_scores is not None
        assert by_scores.distinct == cases.distinct
    assert by_case >= 0.8 * draws
    assert by_row <= 0.6 * draws


def test_distinct_rows_keep_their_band(fitted) -> None:
    _model, evidence = fitted
    X, _ = draw(np.random.default_rng(2), 3000)
    assert window_cases(evidence, X) is None  # no row repeats: nothing to count once
    text = describe(evidence, None, 3000)
    assert text is not None
    assert "each counted as an independent case" in text


def test_inputs_shared_by_distinct_cases_are_not_taken_for_one_case() -> None:
    # three yes/no inputs: eight possible rows, so distinct cases share them all the time;
    # the evaluation shows it (its rows repeat), and the rows stay independent
    rng = np.random.default_rng(3)
    X = rng.integers(0, 2, size=(6000, 3)).astype(float)
    y = (rng.random(6000) < 0.2 + 0.5 * X[:, 0]).astype(int)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    evidence = CalibrationEvidence.from_dict(evaluate(model, X[3000:], y[3000:]).evidence)
    assert evidence.input_repeats is not None
    assert evidence.input_repeats > 2900
    window = X[rng.integers(0, 3000, size=2000)]
    assert window_cases(evidence, window) is None
    text = describe(evidence, None, 2000)
    assert text is not None
    assert "repeat another's inputs" in text
    assert "need not be the same case" in text


def test_a_trees_scores_are_not_taken_for_its_inputs() -> None:
    # a tree gives every row of a leaf one score: identical scores, distinct inputs
    rng = np.random.default_rng(4)
    X, y = draw(rng, 6000)
    tree = DecisionTreeClassifier(max_leaf_nodes=12, random_state=0).fit(X[:3000], y[:3000])
    evidence = CalibrationEvidence.from_dict(evaluate(tree, X[3000:], y[3000:]).evidence)
    assert evidence.score_repeats is not None
    assert evidence.score_repeats > 2900
    proba = tree.predict_proba(X[:2000])
    assert window_cases(evidence, scores=proba) is None
    text = describe(evidence, None, 2000, key="scores")
    assert text is not None
    assert "repeat another's scores" in text


def test_a_regressors_band_counts_cases_too() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6000, 4))
    y = X @ np.array([1.0, 2.0, 0.0, -1.0]) + rng.normal(size=6000)
    from sklearn.linear_model import Ridge

    model = Ridge().fit(X[:3000], y[:3000])
    evidence = CalibrationEvidence.from_dict(evaluate(model, X[3000:], y[3000:]).evidence)
    assert evidence.input_repeats == 0
    window = X[3000:3100][rng.integers(0, 100, size=3000)]
    errors = ErrorModel(evidence)
    cases = window_cases(evidence, window)
    assert cases is not None
    wide = errors.estimate(window, model.predict(window), cases=cases)["mae"]
    narrow = errors.estimate(window, model.predict(window))["mae"]
    assert wide.value == narrow.value
    assert (wide.upper - wide.lower) > 2 * (narrow.upper - narrow.lower)


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


def log_rows(reg: Registry, model, name: str, X: pd.DataFrame, at: datetime, tag: str) -> None:
    write_scored_log(reg.settings.artifacts_url, name, model, X, at, tag)


def test_the_registry_reports_the_effective_rows_and_says_how_it_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    X, y = draw(rng, 9000)
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    model = LogisticRegression().fit(frame[:3000], y[:3000])
    report = evaluate(model, frame[3000:6000], y[3000:6000])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(model, "churn", X=frame[:3000], evaluation=report, deploy=True)
        # the first half hour: 3,000 requests about 200 customers; then 1,000 distinct ones
        repeated = frame[6000:6200].iloc[rng.integers(0, 200, size=3000)]
        log_rows(reg, model, "churn", repeated, now - timedelta(minutes=50), "a")
        log_rows(reg, model, "churn", frame[7000:8000], now - timedelta(minutes=10), "b")
        result = reg.estimated_performance(
            "churn", since=now - timedelta(hours=1), until=now, step=1800
        )
    first, second = result.windows
    assert first.rows == 3000
    assert first.effective_rows is not None
    assert first.effective_rows < 220
    assert second.effective_rows == 1000.0  # distinct rows count one each
    assert result.overall.effective_rows is not None
    assert result.overall.effective_rows < 1300
    assert result.repeats is not None
    assert "4000 rows are 1200 distinct inputs" in result.repeats
    assert "one case seen again" in result.repeats
    assert f"rows: {result.repeats}" in str(result)
    # a case seen 15 times is one label: the band is wider than the rows alone would make it
    acc1, acc2 = first.metrics["accuracy"], second.metrics["accuracy"]
    assert acc1.upper - acc1.lower > 1.5 * (acc2.upper - acc2.lower)
    again = EstimatedPerformance.from_dict(result.to_dict())
    assert again.repeats == result.repeats
    assert again.windows[0].effective_rows == pytest.approx(first.effective_rows)


def test_an_array_models_logged_inputs_are_found_under_other_names(tmp_path: Path) -> None:
    # evaluated on an array (columns by position), logged under the signature's names
    rng = np.random.default_rng(7)
    X, y = draw(rng, 6000)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    report = evaluate(model, X[3000:5000], y[3000:5000])
    assert report.evidence["input_columns"] == ["0", "1", "2", "3", "4"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    logged = pd.DataFrame(X[5000:5100], columns=[f"f{i}" for i in range(5)])
    repeated = logged.iloc[rng.integers(0, 100, size=2000)]
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(model, "arr", X=X[:3000], evaluation=report, deploy=True)
        log_rows(reg, model, "arr", repeated, now - timedelta(minutes=5), "a")
        result = reg.estimated_performance("arr", since=now - timedelta(hours=1), until=now)
    assert result.repeats is not None
    assert "2000 rows are 100 distinct inputs" in result.repeats
    assert result.overall.effective_rows is not None
    assert result.overall.effective_rows < 120


def test_multiclass_bands_count_cases_as_label_draws_per_case_show() -> None:
    # the estimator's own model of a window: one label per case, drawn from its calibrated
    # probabilities, copied to every row of the case. The band must cover the realized
    # macro metrics as often as it claims; counting rows, it does not.
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=20_000, n_features=6, n_informative=4, n_classes=3, random_state=8
    )
    model = LogisticRegression(max_iter=500).fit(X[:5000], y[:5000])
    evidence = CalibrationEvidence.from_dict(evaluate(model, X[5000:15000], y[5000:15000]).evidence)
    rng = np.random.default_rng(9)
    rows = rng.integers(0, 120, size=3000)
    Xw = X[15000:15120][rows]
    proba, pred = model.predict_proba(Xw), model.predict(Xw)
    cases = window_cases(evidence, Xw)
    assert cases is not None
    assert cases.distinct <= 120
    by_case = estimate_classification(evidence, proba, pred.astype(str), cases=cases)
    by_row = estimate_classification(evidence, proba, pred.astype(str))
    cal = np.column_stack([m(proba[:, j]) for j, m in enumerate(evidence.maps)])
    cal /= cal.sum(axis=1, keepdims=True)
    first = np.unique(cases.index, return_index=True)[1]  # one row per case
    covered = {"case": 0, "row": 0}
    draws = 200
    for _ in range(draws):
        per_case = (rng.random(len(first))[:, None] > np.cumsum(cal[first], axis=1)).sum(axis=1)
        labels = per_case[cases.index]
        for metric, value in (
            ("accuracy", skm.accuracy_score(labels, pred)),
            ("f1_macro", skm.f1_score(labels, pred, average="macro")),
            ("roc_auc", skm.roc_auc_score(labels, proba, multi_class="ovr")),
        ):
            covered["case"] += by_case[metric].covers(value)
            covered["row"] += by_row[metric].covers(value)
    assert covered["case"] >= 0.85 * 3 * draws
    assert covered["row"] <= 0.6 * 3 * draws
