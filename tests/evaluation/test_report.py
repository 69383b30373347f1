import json

import numpy as np
import pytest

from deploykit.errors import EvaluationError
from deploykit.evaluation import GREATER_IS_BETTER, TASK_METRICS, EvaluationReport

REPORT = EvaluationReport(
    task="regression",
    n_samples=50,
    metrics={"rmse": 2.0, "r2": 0.8, "max_error": 5.0},
    baseline={"rmse": 4.0, "r2": 0.0, "max_error": 9.0},
    production={"rmse": 2.5, "r2": 0.8},
    production_version=7,
)


def test_every_metric_says_which_way_is_better():
    assert {m for metrics in TASK_METRICS.values() for m in metrics} == set(GREATER_IS_BETTER)
    assert [m for m, up in GREATER_IS_BETTER.items() if not up] == [
        "log_loss",
        "rmse",
        "mae",
        "mape",
        "max_error",
    ]


def test_delta_is_raw_difference_for_shared_metrics():
    assert REPORT.delta() == {"rmse": -0.5, "r2": 0.0}
    assert REPORT.delta("baseline") == {"rmse": -2.0, "r2": 0.8, "max_error": -4.0}


def test_improved_respects_the_direction_of_each_metric():
    assert REPORT.improved("rmse") is True  # lower error
    assert REPORT.improved("r2") is False  # a tie is not an improvement
    assert REPORT.improved("max_error") is None  # production has no figure
    assert REPORT.improved("max_error", against="baseline") is True


def test_against_must_be_production_or_baseline():
    with pytest.raises(EvaluationError, match=r"must be 'production' or 'baseline'\. Got 'prod'"):
        REPORT.delta("prod")


def test_table_has_one_row_per_metric_for_front_ends():
    rows = REPORT.table()
    assert [r["metric"] for r in rows] == ["rmse", "r2", "max_error"]
    assert rows[0] == {
        "metric": "rmse",
        "value": 2.0,
        "baseline": 4.0,
        "production": 2.5,
        "delta": -0.5,
        "better": True,
        "greater_is_better": False,
    }
    assert rows[2]["production"] is None
    assert rows[2]["better"] is None


def test_to_dict_is_plain_json_even_from_numpy_values():
    report = EvaluationReport(
        task="binary",
        n_samples=3,
        metrics={"accuracy": np.float64(0.5)},
        baseline={"accuracy": np.float32(0.5)},
        labels=[np.int64(0), np.int64(1)],
        confusion_matrix=[[np.int64(1), np.int64(0)], [np.int64(1), np.int64(1)]],
        notes=("roc_auc omitted: ...",),
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert type(data["labels"][0]) is int
    restored = EvaluationReport.from_dict({**data, "added_in_a_later_version": 1})
    assert restored.labels == [0, 1]
    assert restored.notes == ("roc_auc omitted: ...",)
    assert restored.gate is None


def test_print_shows_a_table_not_a_dump():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from deploykit.evaluation import evaluate

    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    text = str(evaluate(model, X, y, gate="accuracy>=0.5"))
    lines = text.splitlines()
    assert lines[0] == "Evaluation (binary, 569 rows)"
    assert lines[1].split() == ["metric", "value", "baseline", "production"]
    assert any(line.startswith("accuracy ") for line in lines)
    assert lines[-1] == "gate passed (1/1)"
