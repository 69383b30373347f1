"""``%deploy estimated``: production's metrics estimated from logged scores, before labels."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest

from deploykit.monitoring.performance import EstimatedPerformance
from tests.monitoring.logged import write_scored_log


def shown(ip: Any, value: Any) -> tuple[str, str]:
    """What Jupyter would show for ``value``: (html, text)."""
    data, _ = ip.display_formatter.format(value)
    return data.get("text/html", ""), data["text/plain"]


def log_rows(session: Any, model: Any, X: pd.DataFrame, at: datetime, tag: str) -> None:
    """X's predictions written to the embedded registry's prediction log, as a server would."""
    write_scored_log(session.backend.settings.artifacts_url, "churn", model, X, at, tag)


@pytest.fixture
def logged(nb, deploy, session, capsys):
    """churn:1 pushed with its evaluation and in production; two batches of traffic logged,
    90 and 20 minutes ago, and none before."""
    deploy("evaluate model X_test y_test --name churn")
    deploy("push model --name churn --data X_train --deploy")
    now = datetime.now(timezone.utc)
    model, X_train, X_test = (nb.user_ns[k] for k in ("model", "X_train", "X_test"))
    log_rows(session, model, X_train[:200], now - timedelta(minutes=90), "a")
    log_rows(session, model, X_test, now - timedelta(minutes=20), "b")
    capsys.readouterr()
    return nb


def test_estimated_shows_the_band_and_the_non_empty_windows(logged, deploy):
    result = deploy("estimated churn --since 3h --step 1h")
    assert isinstance(result, EstimatedPerformance)
    assert (result.model, result.version, result.headline) == ("churn", 1, "accuracy")
    assert result.overall.rows == 343
    assert [w.rows for w in result.windows if w.rows] == [200, 143]
    assert result.windows[0].rows == 0  # the first hour logged nothing

    html, text = shown(logged, result)
    assert text.startswith("Estimated performance of churn:1 (binary)")
    assert re.search(r"accuracy\s+0\.\d{4}\s+\[0\.\d{4}, [01]\.\d{4}\]\s+-\s+0\.\d{4}", text)
    assert "343 rows, 0 labelled, 90% band" in text
    assert "calibration: " in text
    assert "accuracy per hour, windows with logged predictions" in text
    window_lines = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert [line.split()[2] for line in window_lines] == ["200", "143"]  # no empty window

    assert "<table" in html
    for header in ("metric", "estimate", "band", "realized", "at push"):
        assert f">{header}</th>" in html
    assert html.count("<tr>") == 1 + len(result.metrics) + 1 + 2  # two tables, two windows
    assert "calibration: " in html


def test_estimated_of_another_version_and_without_windows(logged, deploy):
    result = deploy("estimated churn --version 1")
    assert result.version == 1
    assert result.windows == ()
    assert "per hour" not in shown(logged, result)[1]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("estimated chrun", "did you mean 'churn'"),
        ("estimated churn --since yesterday", "--since must be a duration such as 3600"),
        ("estimated churn --step 0", "--step must be a duration such as 3600"),
        ("estimated churn --since 7d --step 1s", "at most 1,000 are allowed: use --step 11m"),
        ("estimated churn --version two", "expected a version number such as 3, got 'two'"),
    ],
)
def test_estimated_wrong_input_is_one_line(logged, deploy_fails, line, expected):
    assert expected in deploy_fails(line)


def test_estimated_is_listed_in_help_and_suggested_for_a_typo(ip, deploy, deploy_fails):
    text = shown(ip, deploy("help"))[1]
    assert "estimated NAME [--version V] [--since 24h] [--step 1h]" in text
    assert "%deploy estimated churn --since 24h --step 1h" in text
    assert "did you mean 'estimated'" in deploy_fails("estimate churn")
