import json

import pytest

from deploykit.errors import GateError
from deploykit.evaluation import EvaluationReport, Gate, GateResult, Threshold


def report(metrics, *, production=None, production_version=None, task="binary", notes=()):
    return EvaluationReport(
        task=task,
        n_samples=100,
        metrics=metrics,
        baseline={m: 0.5 for m in metrics},
        production=production,
        production_version=production_version,
        notes=notes,
    )


SPEC = (
    "roc_auc>=0.9; roc_auc>=production-0.01; log_loss<=production; "
    "accuracy>baseline+0.05; recall>=production*0.98"
)


def test_parse_reads_every_form_of_bound():
    gate = Gate.parse(SPEC)
    assert gate.thresholds == (
        Threshold("roc_auc", ">=", 0.9),
        Threshold("roc_auc", ">=", -0.01, against="production"),
        Threshold("log_loss", "<=", against="production"),
        Threshold("accuracy", ">", 0.05, against="baseline"),
        Threshold("recall", ">=", against="production", factor=0.98),
    )
    assert str(gate) == SPEC
    assert Gate.parse(str(gate)) == gate


def test_parse_accepts_spaces_newlines_and_blank_clauses():
    text = "\n  roc_auc >= 0.9 ;\n\n recall >= production * 0.98 + 0.01\nr2>=-0.5;"
    assert Gate.parse(text).thresholds == (
        Threshold("roc_auc", ">=", 0.9),
        Threshold("recall", ">=", 0.01, against="production", factor=0.98),
        Threshold("r2", ">=", -0.5),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "roc_auc>=0.9; roc_auc=>0.9",
            "Gate clause 2 'roc_auc=>0.9', at character 22: expected an operator >=, >, <=, < "
            "after 'roc_auc'; got '=>'. Did you mean '>='?",
        ),
        ("accuracy 0.9", "Gate clause 1 'accuracy 0.9', at character 10: expected an operator"),
        ("roc_auc==0.9", "got '=='. Equality of floats"),
        ("auc>=0.9", "Gate clause 1 'auc>=0.9', at character 1: unknown metric 'auc'"),
        ("roc_auc>=prod", "got 'prod' (did you mean 'production'?)"),
        ("roc_auc>=production*", "expected a number after 'production*'"),
        ("roc_auc>=production-", "expected a number after 'production-'"),
        ("roc_auc>=", "expected a number, 'production' or 'baseline' after '>='; got 'nothing'"),
        ("roc_auc>=0.9, f1>=0.5", "unexpected ', f1>=0.5' after the bound. Separate clauses"),
        ("0.9<=roc_auc", "expected a metric name"),
        (" ; \n", "The gate expression is empty"),
    ],
)
def test_parse_errors_name_the_clause_and_position(text, message):
    with pytest.raises(GateError) as info:
        Gate.parse(text)
    assert message in str(info.value)


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(GateError, match=r"\(did you mean 'roc_auc'\?\)\. Known metrics: accuracy"):
        Gate.parse("roc_aux>=0.9")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "roc_auc", "op": "=>", "value": 0.9}, "The 'op' parameter of Threshold"),
        ({"metric": "roc_auc", "op": ">=", "against": "prod"}, "The 'against' parameter"),
        ({"metric": "roc_auc", "op": ">=", "value": float("nan")}, "must be a finite number"),
        ({"metric": "roc_auc", "op": ">=", "factor": 0.9}, "only applies with against="),
        ({"metric": "auc", "op": ">=", "value": 0.9}, "Unknown metric 'auc'"),
    ],
)
def test_threshold_rejects_bad_fields(kwargs, message):
    with pytest.raises(GateError, match=message):
        Threshold(**kwargs)


def test_gate_needs_thresholds():
    with pytest.raises(GateError, match=r"use Gate\.parse"):
        Gate("roc_auc>=0.9")
    with pytest.raises(GateError, match="at least one clause"):
        Gate([])


def test_check_passes_and_fails_with_a_readable_summary():
    passing = Gate.parse("roc_auc>=0.9; accuracy>baseline+0.05; log_loss<=0.5").check(
        report({"roc_auc": 0.93, "accuracy": 0.8, "log_loss": 0.3})
    )
    assert passing.passed
    assert passing.summary() == "gate passed (3/3)"

    failing = Gate.parse("roc_auc>=0.9; accuracy>baseline+0.05").check(
        report({"roc_auc": 0.87, "accuracy": 0.8})
    )
    assert not failing.passed
    assert [c.passed for c in failing.checks] == [False, True]
    assert failing.checks[0].threshold == 0.9
    assert failing.checks[0].actual == 0.87
    assert failing.summary() == "gate failed: roc_auc 0.87 < 0.9"


def test_relative_bounds_are_computed_from_production():
    gate = Gate.parse("recall>=production*0.98; roc_auc>=production-0.01; log_loss<=production")
    result = gate.check(
        report(
            {"recall": 0.87, "roc_auc": 0.885, "log_loss": 0.31},
            production={"recall": 0.9, "roc_auc": 0.9, "log_loss": 0.3},
            production_version=3,
        )
    )
    assert [c.threshold for c in result.checks] == pytest.approx([0.882, 0.89, 0.3])
    assert [c.passed for c in result.checks] == [False, False, False]
    assert result.summary() == (
        "gate failed: recall 0.87 < 0.882 (production*0.98); "
        "roc_auc 0.885 < 0.89 (production-0.01); log_loss 0.31 > 0.3 (production)"
    )


def test_a_first_deploy_passes_clauses_relative_to_production():
    result = Gate.parse("roc_auc>=production-0.01; roc_auc>=0.8").check(report({"roc_auc": 0.85}))
    assert result.passed
    assert result.checks[0].note == "no production version to compare with"
    assert result.checks[0].threshold is None
    assert result.summary() == (
        "gate passed (1/1 checked, 1 not checked: no production version to compare with)"
    )


def test_an_absolute_clause_still_fails_on_a_first_deploy():
    result = Gate.parse("roc_auc>=production; roc_auc>=0.9").check(report({"roc_auc": 0.85}))
    assert not result.passed


def test_near_equal_figures_print_with_enough_digits():
    result = Gate.parse("accuracy>=0.9").check(report({"accuracy": 0.89999}))
    assert result.summary() == "gate failed: accuracy 0.89999 < 0.9"


def test_a_metric_the_model_lacks_fails_the_gate_with_the_reason():
    notes = ("mape omitted: y contains zeros, where a percentage error is undefined.",)
    result = Gate.parse("mape<=0.1").check(report({"rmse": 1.0}, task="regression", notes=notes))
    assert not result.passed
    assert result.checks[0].note == notes[0]
    assert result.summary().startswith("gate failed: mape not computed (mape omitted")


def test_a_metric_of_another_task_lists_the_available_ones():
    with pytest.raises(GateError) as info:
        Gate.parse("accuracy>=0.9; r2>=0.5").check(report({"accuracy": 1.0}))
    assert str(info.value).startswith(
        "Gate clause 2 'r2>=0.5': r2 is not a metric of binary evaluation; available "
        "metrics: accuracy, balanced_accuracy, precision,"
    )


def test_gate_result_round_trips_through_json():
    result = Gate.parse(SPEC).check(
        report(
            {"roc_auc": 0.93, "log_loss": 0.3, "accuracy": 0.9, "recall": 0.8},
            production={"roc_auc": 0.92, "log_loss": 0.31, "recall": 0.85},
            production_version=2,
        )
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["summary"] == result.summary()
    assert GateResult.from_dict(data) == result
