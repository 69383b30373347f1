"""Estimated performance where people look: the console chart, the CLI, %deploy status."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.console import charts
from deploykit.console.data import estimated_frame
from deploykit.evaluation import evaluate
from deploykit.monitoring.estimate import MetricEstimate
from deploykit.monitoring.logs import write_log_file
from deploykit.monitoring.performance import EstimatedPerformance, EstimatedWindow
from deploykit.registry import Registry
from deploykit.settings import Settings
from deploykit.ui import render
from deploykit.ui.actions import _estimated_line
from deploykit.ui.results import ModelStatus

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
STAMP = pa.timestamp("us", tz="UTC")


def result(realized: list[float | None], trusted: list[bool]) -> EstimatedPerformance:
    windows = tuple(
        EstimatedWindow(
            T0 + timedelta(hours=i),
            T0 + timedelta(hours=i + 1),
            rows=500,
            labelled=0 if r is None else 100,
            metrics={
                "accuracy": MetricEstimate(0.9 - 0.05 * i, 0.88 - 0.05 * i, 0.92 - 0.05 * i, r)
            },
            trusted=t,
        )
        for i, (r, t) in enumerate(zip(realized, trusted, strict=True))
    )
    overall = EstimatedWindow(T0, T0 + timedelta(hours=3), 0, 0, {}, trusted=False)
    return EstimatedPerformance(
        "churn", 2, "binary", ("accuracy",), "accuracy", 0.9, {"accuracy": 0.93},
        overall, windows,
    )  # fmt: skip


def test_the_chart_draws_band_estimate_and_realized_on_one_figure() -> None:
    frame = estimated_frame(result([0.91, None, None], [True, True, False]))
    assert list(frame["value"]) == pytest.approx([0.9, 0.85, 0.8])
    fig = charts.estimated_figure(frame, reference=0.93)
    names = [t.name for t in fig.data]
    assert "estimated accuracy" in names
    assert "realized accuracy" in names
    assert "90% band" in names
    estimated = next(t for t in fig.data if t.name == "estimated accuracy")
    assert list(estimated.marker.symbol) == ["circle", "circle", "circle-open"]  # untrusted
    realized = next(t for t in fig.data if t.name == "realized accuracy")
    assert list(realized.y) == [0.91]  # only where labels came back
    empty = charts.estimated_figure(estimated_frame(result([], [])))
    assert "No estimate" in empty.layout.annotations[0].text


def test_status_shows_the_estimate_and_warns_when_untrusted() -> None:
    line = "accuracy 0.871 [0.862, 0.880] (90% band; at push 0.930), 1,000 rows, no labels yet"
    text = render.status_text([ModelStatus("churn", 2, estimated=line)])
    assert "estimated    accuracy 0.871 [0.862, 0.880]" in text
    html = render.status_html([ModelStatus("churn", 2, estimated=line + "; untrusted: x")])
    assert "untrusted" in html


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def push_and_log(home: Path, traffic: pd.DataFrame) -> None:
    """A logistic model pushed with its evaluation, and ``traffic`` in its prediction log."""
    X, y = make_classification(n_samples=2000, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = LogisticRegression().fit(frame[:1000], y[:1000])
    now = datetime.now(timezone.utc)
    with Registry(Settings.from_env()) as reg:
        report = evaluate(model, frame[1000:2000], y[1000:2000])
        reg.push(model, "churn", X=frame[:1000], evaluation=report, deploy=True)
        proba = model.predict_proba(traffic)
        table = pa.table(
            {
                "request_id": [f"r{i}" for i in range(len(traffic))],
                "timestamp": pa.array([now - timedelta(minutes=5)] * len(traffic), STAMP),
                "version": np.ones(len(traffic), dtype=np.int64),
                "prediction": model.predict(traffic),
                "probability.0": proba[:, 0],
                "probability.1": proba[:, 1],
                **{f"input.{c}": traffic[c].to_numpy() for c in traffic.columns},
            }
        )  # fmt: skip
        write_log_file(reg.settings.artifacts_url, "churn", table, at=now, tag="t")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.delenv("DEPLOYKIT_SERVER_URL", raising=False)
    return tmp_path


def traffic(rows: int, distinct: int) -> pd.DataFrame:
    X, _ = make_classification(n_samples=distinct, n_features=4, random_state=7)
    picks = np.random.default_rng(3).choice(distinct, size=rows, replace=rows > distinct)
    return pd.DataFrame(X[picks], columns=list("abcd"))


def test_the_cli_prints_estimates_per_window(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    push_and_log(home, traffic(1000, 100_000))
    assert run(["estimated", "churn", "--since", "1h", "--step", "30m"]) == 0
    out = capsys.readouterr().out
    assert "Estimated performance of churn:1 (binary)" in out
    assert "1000 rows, 0 labelled, 90% band" in out
    assert "    1,000 rows  0." in out  # the window that holds the traffic
    assert "worth" not in out  # distinct inputs: every row counts
    assert run(["estimated", "churn", "--since", "soon"]) == 1
    assert "--since" in capsys.readouterr().err


def test_a_few_cases_seen_many_times_are_counted_once_where_the_estimate_is_shown(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 logged rows drawn from 40 inputs carry 40 cases' labels: the CLI and
    %deploy status say how many independent rows the band counted."""
    push_and_log(home, traffic(1000, 40))
    assert run(["estimated", "churn", "--since", "1h", "--step", "30m"]) == 0
    out = capsys.readouterr().out
    assert "1000 rows are 40 distinct inputs, worth" in out
    worth = re.search(r"1,000 rows \(worth (\d+) independent\)", out)
    assert worth is not None
    assert 30 <= int(worth.group(1)) <= 40
    with Registry(Settings.from_env()) as reg:
        line = _estimated_line(reg, "churn", 3600, "1h")
    assert line is not None
    assert f"1,000 rows (worth {worth.group(1)} independent), no labels yet" in line
