"""Estimated performance where people look: the console chart, the CLI, %deploy status."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.console import charts
from deploykit.console.data import estimated_frame
from deploykit.evaluation import evaluate
from deploykit.monitoring.estimate import MetricEstimate
from deploykit.monitoring.performance import EstimatedPerformance, EstimatedWindow
from deploykit.registry import Registry
from deploykit.settings import Settings
from deploykit.ui import render
from deploykit.ui.actions import _estimated_line
from deploykit.ui.results import ModelStatus
from tests.monitoring.logged import write_scored_log

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


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


def test_a_realized_figure_from_part_of_the_traffic_says_so() -> None:
    """Labels came back for 100 of 2,400 rows (a calm hour, a sample): the realized value
    is theirs alone, and the text says so beside the estimate over all rows."""
    base = result([0.91], [True])
    overall = EstimatedWindow(T0, T0 + timedelta(hours=1), 2400, 100, {}, trusted=True)
    text = str(dataclasses.replace(base, overall=overall))
    assert "2400 rows, 100 labelled" in text
    assert "realized: on the 100 labelled rows only; the estimate covers all 2,400" in text
    every = dataclasses.replace(overall, labelled=2400)
    assert "realized: on" not in str(dataclasses.replace(base, overall=every))


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


def push_and_log(home: Path, traffic: pd.DataFrame, *, deploy: bool = True) -> int:
    """A logistic model pushed with its evaluation, and ``traffic`` in its prediction log
    (as the new version's); the version number."""
    X, y = make_classification(n_samples=2000, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = LogisticRegression().fit(frame[:1000], y[:1000])
    now = datetime.now(timezone.utc)
    with Registry(Settings.from_env()) as reg:
        report = evaluate(model, frame[1000:2000], y[1000:2000])
        number = reg.push(model, "churn", X=frame[:1000], evaluation=report, deploy=deploy).version
        write_scored_log(
            reg.settings.artifacts_url,
            "churn",
            model,
            traffic,
            now,
            f"t{number}",
            version=number,
            stamped=now - timedelta(minutes=5),
        )
    return number


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
    lines = out.splitlines()
    # the first line names the period read: an hour, ending now, in UTC
    head = re.fullmatch(
        r"Estimated performance of churn:1 \(binary\), (\S+ \S+) → (\S+ \S+) UTC", lines[0]
    )
    assert head is not None, lines[0]
    start, end = (datetime.strptime(t, "%Y-%m-%d %H:%M") for t in head.groups())
    assert end - start == timedelta(hours=1)
    assert "1000 rows, 0 labelled, 90% band" in out
    # the window table has a header; the window without traffic is counted, not printed
    header = lines.index("accuracy per window:") + 1
    assert lines[header].split() == ["when", "(UTC)", "rows", "estimate", "90%", "band", "realized"]
    window = lines[header + 1].split()
    assert window[2:4] == ["1,000", "rows"]
    assert re.fullmatch(r"0\.\d{4}", window[4])
    assert window[7] == "-"  # no labels yet: nothing realized
    assert lines[header + 2] == "1 empty window not shown"
    assert " 0 rows" not in out
    assert "worth" not in out  # distinct inputs: every row counts
    assert run(["estimated", "churn", "--since", "soon"]) == 1
    assert "--since" in capsys.readouterr().err


def test_a_fine_step_over_a_day_prints_only_the_windows_with_traffic(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    push_and_log(home, traffic(300, 100_000))
    assert run(["estimated", "churn", "--step", "2m"]) == 0
    out = capsys.readouterr().out
    assert "719 empty windows not shown" in out  # 24 h in 2 min windows: 720, one with traffic
    assert len(out.splitlines()) < 20
    # the default period is 24 hours exactly, in the table and in the JSON alike
    head = re.search(r"(\S+ \S+) → (\S+ \S+) UTC", out.splitlines()[0])
    assert head is not None
    start, end = (datetime.strptime(t, "%Y-%m-%d %H:%M") for t in head.groups())
    assert end - start == timedelta(hours=24)
    assert run(["estimated", "churn", "--json"]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    span = datetime.fromisoformat(overall["until"]) - datetime.fromisoformat(overall["since"])
    assert span == timedelta(hours=24)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--step", "1s"],
            "--step 1s cuts the 24h period into 86,400 windows; at most 1,000 are allowed: "
            "use --step 2m or more.",
        ),
        (
            ["--since", "7d", "--step", "10m"],
            "--step 10m cuts the 7d period into 1,008 windows; at most 1,000 are allowed: "
            "use --step 11m or more.",
        ),
        (
            ["--since", "400d", "--step", "1h"],
            "--step 1h cuts the 400d period into 9,600 windows; at most 1,000 are allowed: "
            "use --step 10h or more.",
        ),
    ],
)
def test_a_step_cutting_too_many_windows_is_refused_in_the_flags_words(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # checked before the registry is asked: even a model that does not exist gets it
    assert run(["estimated", "no-such-model", *argv]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {message}\n"
    suggested = message.rsplit("--step ", 1)[1].split()[0]
    assert run(["estimated", "no-such-model", *argv[:-1], suggested]) == 1
    assert "No model named 'no-such-model'" in capsys.readouterr().err  # the step is fine


def test_the_cli_estimates_a_version_production_does_not_point_at(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `deploykit demo` rolls production back to 1, v2's estimate is still wanted."""
    push_and_log(home, traffic(1000, 100_000))
    push_and_log(home, traffic(300, 100_000), deploy=False)
    assert run(["estimated", "churn", "--since", "1h", "--version", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Estimated performance of churn:2 (binary)")
    assert "300 rows, 0 labelled" in out
    assert run(["estimated", "churn", "--since", "1h", "-v", "1"]) == 0
    assert "1000 rows, 0 labelled" in capsys.readouterr().out
    assert run(["estimated", "churn", "--since", "1h"]) == 0  # production's by default
    assert capsys.readouterr().out.startswith("Estimated performance of churn:1 ")
    assert run(["estimated", "churn", "-v", "9"]) == 1
    err = capsys.readouterr().err
    assert "has no version 9 (latest is 2)" in err
    assert err.count("\n") == 1


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
