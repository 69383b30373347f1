"""%deploy shadow|canary|step|promote|abort|experiment|compare on the embedded registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.registry import Registry


@pytest.fixture
def churn(ip):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(300), "b": rng.random(300)})
    y = (X.a + X.b > 1).astype(int)
    with Registry() as reg:
        reg.push(LogisticRegression().fit(X, y), "churn", X=X, format="skops")
        reg.push(DecisionTreeClassifier(max_depth=2).fit(X, y), "churn", X=X, format="skops")
        reg.deploy("churn", 1)
    ip.user_ns["X"] = X
    return ip


def test_canary_step_promote_render_and_return_the_record(churn) -> None:  # type: ignore[no-untyped-def]
    started = churn.run_line_magic("deploy", "canary churn 2 --percent 10 --sticky a")
    assert started.candidate == 2  # attributes read through to the Experiment
    assert "canary 10%" in started._repr_html_()
    assert "column 'a'" in started._text()
    stepped = churn.run_line_magic("deploy", "step churn 30")
    assert stepped.percent == 30.0
    done = churn.run_line_magic("deploy", 'promote churn --reason "looks right"')
    assert done.state == "promoted"
    with Registry() as reg:
        assert reg.model("churn").production == 2


def test_compare_on_a_dataframe_variable(churn) -> None:  # type: ignore[no-untyped-def]
    shown = churn.run_line_magic("deploy", "compare churn 1 2 --data X")
    assert shown.pairs == 300
    assert "agreement" in shown._text()
    assert "cross-table" in shown._repr_html_()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("canary churn", "the following arguments are required: version"),
        ("canary churn 2 --percent ten", "expected a number"),
        ("shadow churn 2 --share 3", r"expected a fraction in \(0, 1\]"),
        ("promote churn", "--reason"),
        ("abort churn --reason nothing", "no running experiment"),
        ("canary churn 2 --promote-when 'speed<=1'", "unknown metric 'speed'"),
    ],
)
def test_mistakes_are_one_line(churn, line: str, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=match):
        churn.run_line_magic("deploy", line)
