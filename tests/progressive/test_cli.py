"""The experiment commands, on an embedded registry, as a script would run them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from deploykit.cli.app import app
from deploykit.registry import Registry


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "ci")
    X = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) % 3})
    y = (X.a > 25).astype(int)
    with Registry(home=tmp_path) as reg:
        for c in (1.0, 0.001):
            reg.push(LogisticRegression(C=c).fit(X, y), "churn", X=X, format="skops")
        reg.deploy("churn", 1)
    return tmp_path


def test_canary_step_promote_from_a_shell(home: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["canary", "churn", "2", "--percent", "5", "--promote-when", "accuracy>=production-0.01"],
    )
    assert out.exit_code == 0, out.output
    assert "canary 5% of version 2 beside production version 1 (running" in out.output
    assert "promote when accuracy>=production-0.01" in out.output
    assert runner.invoke(app, ["step", "churn", "20"]).exit_code == 0
    shown = runner.invoke(app, ["experiment", "churn", "--json"])
    assert json.loads(shown.output)["percent"] == 20.0
    done = runner.invoke(app, ["promote", "churn", "--reason", "ci checks passed"])
    assert done.exit_code == 0, done.output
    assert "promoted" in done.output
    with Registry(home=home) as reg:
        assert reg.model("churn").production == 2
        assert reg.events("churn", limit=1)[0].actor == "ci"


def test_a_mistake_is_one_line_and_exit_1(home: Path) -> None:
    from deploykit.cli.app import main

    with pytest.raises(SystemExit) as exited:
        main(["abort", "churn", "--reason", "nothing runs"])
    assert exited.value.code == 1
