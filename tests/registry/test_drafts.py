import json
import math

import numpy as np
import pytest

import deploykit
from deploykit.errors import GateError, InvalidInputError, NotAnEstimatorError
from deploykit.evaluation import Gate
from deploykit.registry import VersionDraft, prepare_draft
from deploykit.registry.drafts import json_safe


def test_prepare_draft_is_pure_and_json_ready(model, data, deploykit_home):
    X, y = data
    report = deploykit.evaluate(model, X, y)
    draft = prepare_draft(
        model, format="joblib", evaluation=report, gate=Gate.parse("accuracy >= 0.5")
    )
    assert not deploykit_home.exists()  # no store, no database
    assert draft.digest == ""
    assert draft.size == 0
    assert draft.author is None
    assert draft.gate_passed is True
    assert draft.metrics == pytest.approx(report.metrics)
    wire = json.loads(json.dumps(draft.to_dict(), allow_nan=False))
    assert VersionDraft.from_dict(wire) == draft


def test_evaluation_may_arrive_as_a_dict(model, data):
    X, y = data
    report = deploykit.evaluate(model, X, y)
    draft = prepare_draft(
        model, format="joblib", evaluation=report.to_dict(), gate="accuracy>=0.99"
    )
    assert draft.gate_passed is False


def test_the_reports_own_gate_is_kept_when_no_gate_is_given(model, data):
    X, y = data
    report = deploykit.evaluate(model, X, y, gate="accuracy >= 0.5")
    assert prepare_draft(model, format="joblib", evaluation=report).gate_passed is True


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"format": "onnx"}, InvalidInputError, "'format' parameter"),
        ({"format": "joblib", "evaluation": [0.9]}, InvalidInputError, "EvaluationReport"),
        ({"format": "joblib", "description": 3}, InvalidInputError, "'description'"),
    ],
)
def test_bad_arguments_are_named(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        prepare_draft(model, **kwargs)


def test_a_gate_that_is_neither_text_nor_gate(model, data):
    X, y = data
    report = deploykit.evaluate(model, X, y)
    with pytest.raises(GateError, match="'gate' parameter"):
        prepare_draft(model, format="joblib", evaluation=report, gate=0.5)


def test_non_estimators_are_refused():
    with pytest.raises(NotAnEstimatorError):
        prepare_draft("not a model", format="joblib")


def test_from_dict_needs_format_and_estimator_and_ignores_unknown_keys():
    with pytest.raises(InvalidInputError, match="'estimator', 'format'"):
        VersionDraft.from_dict({"digest": "sha256:x"})
    draft = VersionDraft.from_dict({"format": "joblib", "estimator": "x.Y", "future": 1})
    assert draft.format == "joblib"


def test_json_safe():
    value = {1: (np.int64(3), np.float32(0.5)), "x": math.inf, "f": len, "b": True}
    assert json_safe(value) == {"1": [3, 0.5], "x": None, "f": "<built-in function len>", "b": True}
