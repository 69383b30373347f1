"""Experiments in the embedded registry: one at a time, every change audited, ended by any
move of production, and clear errors for each mistake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.errors import (
    AliasNotFoundError,
    ConflictError,
    ExperimentNotFoundError,
    InvalidInputError,
    VersionNotFoundError,
)
from deploykit.registry import Registry


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry(home=tmp_path, actor="ana")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(300), "b": rng.random(300)})
    y = (X.a + X.b > 1).astype(int)
    registry.push(LogisticRegression().fit(X, y), "churn", X=X, format="skops")
    registry.push(DecisionTreeClassifier(max_depth=2).fit(X, y), "churn", X=X, format="skops")
    registry.push(DecisionTreeClassifier(max_depth=1).fit(X, y), "churn", X=X, format="skops")
    registry.deploy("churn", 1)
    return registry


def test_canary_step_promote_are_audited_with_their_reasons(reg: Registry) -> None:
    started = reg.canary("churn", 2, percent=5, reason="first slice")
    assert (started.kind, started.production, started.candidate, started.percent) == (
        "canary",
        1,
        2,
        5.0,
    )
    assert reg.step("churn", 25, reason="no errors").percent == 25.0
    ended = reg.promote("churn", "held for a week")
    assert ended.state == "promoted"
    assert ended.end_reason == "held for a week"
    assert reg.model("churn").production == 2
    actions = [(e.action, e.reason, e.actor) for e in reg.events("churn", limit=5)]
    assert actions[:4] == [
        ("deploy", "promoted from canary (experiment 1): held for a week", "ana"),
        ("experiment-promote", "held for a week", "ana"),
        ("experiment-step", "no errors", "ana"),
        ("experiment-start", "first slice", "ana"),
    ]
    step = reg.events("churn", action="experiment-step")[0]
    assert step.details["from_percent"] == 5.0
    assert step.details["percent"] == 25.0


def test_abort_leaves_production_where_it_was(reg: Registry) -> None:
    reg.shadow("churn", 3, share=0.5)
    ended = reg.abort("churn", "disagrees too often")
    assert ended.state == "aborted"
    assert reg.model("churn").production == 1
    assert reg.events("churn", limit=1)[0].action == "experiment-abort"
    assert reg.experiment("churn") == ended  # the last one, once none runs


@pytest.mark.parametrize("move", ["deploy", "rollback"])
def test_a_deploy_or_rollback_ends_the_running_experiment(reg: Registry, move: str) -> None:
    reg.deploy("churn", 3)
    reg.canary("churn", 2)
    if move == "deploy":
        reg.deploy("churn", 1, reason="hotfix")
    else:
        reg.rollback("churn", reason="back")
    ended = reg.experiment("churn")
    assert ended is not None
    assert ended.state == "ended"
    assert not ended.running
    assert move in (ended.end_reason or "")
    with pytest.raises(ExperimentNotFoundError, match="no running experiment"):
        reg.promote("churn", "too late")
    reg.canary("churn", 2)  # a new one may start


def test_one_experiment_per_model(reg: Registry) -> None:
    reg.canary("churn", 2)
    with pytest.raises(ConflictError, match="already runs a canary of version 2"):
        reg.shadow("churn", 3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.canary("churn", 1), InvalidInputError, "already is 'production'"),
        (lambda r: r.canary("churn", 9), VersionNotFoundError, "no version 9"),
        (
            lambda r: r.shadow("churn", "v2"),
            AliasNotFoundError,
            r"VERSION must be a number, 'latest' or an alias the model has \(production\); "
            "got 'v2'",
        ),
        (lambda r: r.canary("churn", 2, percent=0), InvalidInputError, "'percent'.*Got 0"),
        (lambda r: r.canary("churn", 2, percent=150), InvalidInputError, "Got 150"),
        (lambda r: r.shadow("churn", 2, share=2), InvalidInputError, "'share'.*Got 2"),
        (lambda r: r.canary("churn", 2, min_requests=-1), InvalidInputError, "min_requests"),
        (lambda r: r.canary("churn", 2, max_duration=0), InvalidInputError, "max_duration"),
        (
            lambda r: r.canary("churn", 2, promote_when="latency<=production"),
            InvalidInputError,
            "unknown metric 'latency'",
        ),
        (
            lambda r: r.canary("churn", 2, promote_when="accuracy>=banana"),
            InvalidInputError,
            "'banana'",
        ),
        (lambda r: r.step("churn", 20), ExperimentNotFoundError, "no running experiment"),
        (lambda r: r.abort("churn", ""), InvalidInputError, "needs a reason"),
    ],
)
def test_mistakes_get_one_clear_error(reg: Registry, call, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        call(reg)
    assert reg.model("churn").production == 1


def test_the_policy_is_kept_in_its_canonical_form(reg: Registry) -> None:
    started = reg.canary(
        "churn",
        2,
        promote_when="error_rate <= production and accuracy >= production - 0.01",
        min_requests=500,
        max_duration=3600,
    )
    assert started.promote_when == "error_rate<=production; accuracy>=production-0.01"
    assert (started.min_requests, started.max_duration) == (500, 3600.0)


def test_compare_on_a_dataframe(reg: Registry) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.random(2000), "b": rng.random(2000)})
    got = reg.compare("churn", 1, 2, data=X)
    a = reg.load("churn", 1).predict(X)
    b = reg.load("churn", 2).predict(X)
    assert got.pairs == 2000
    assert got.agreement == pytest.approx(float(np.mean(a == b)))
    assert got.crosstab["0"]["1"] == int(np.sum((a == 0) & (b == 1)))
    # the worst bin is where the tree's split departs from the diagonal
    worst = got.disagreement[0]
    assert worst["disagreement"] >= max(d["disagreement"] for d in got.disagreement)
    assert all(e["a"] != e["b"] for e in got.examples)
    assert "agreement" in got.summary()


def test_the_lab_sidebar_row_carries_the_experiment_badge(reg: Registry) -> None:
    from deploykit.serverext.deployments import Deployments

    sidebar = Deployments(lambda: reg, mode="embedded", target="here")
    assert sidebar.models()[0]["experiment"] is None
    reg.canary("churn", 2, percent=10)
    assert sidebar.models()[0]["experiment"] == "canary 10%"
    reg.abort("churn", "done")
    assert sidebar.models()[0]["experiment"] is None


def test_the_widget_steps_and_promotes_without_a_browser(reg: Registry) -> None:
    from deploykit.ui.experiments import ExperimentWidget

    reg.canary("churn", 2, percent=10)
    widget = ExperimentWidget(reg, "churn")
    assert widget.split.value == 10
    widget.split.value = 40
    widget.step()
    assert reg.experiment("churn").percent == 40.0  # type: ignore[union-attr]
    widget.promote()  # no reason typed: refused, said in the widget, nothing moved
    assert "needs a reason" in widget.status.value
    assert reg.model("churn").production == 1
    widget.reason.value = "looks right"
    widget.promote()
    assert reg.model("churn").production == 2
    assert widget.promote_button.disabled
