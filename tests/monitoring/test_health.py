"""The one health rule, and the console and the Lab sidebar reading the same badge from it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from deploykit.console.data import summarize
from deploykit.errors import ConflictError
from deploykit.monitoring import health
from deploykit.records import Event, ModelInfo
from deploykit.serverext.deployments import Deployments

NOW = datetime(2025, 1, 31, 12, 30, tzinfo=timezone.utc)


def _event(i: int, action: str, minutes_ago: float, reason: str | None = None) -> Event:
    return Event(
        i,
        NOW - timedelta(minutes=minutes_ago),
        "monitor",
        action,
        "churn",
        "production",
        reason=reason,
    )


@pytest.mark.parametrize(
    ("live", "figures", "alert", "expected"),
    [
        (None, {"requests": 9}, None, ("not deployed", "No version is in production yet.")),
        (3, None, _event(1, "alert", 0, "p95 > 200"), ("alert", "Alert at 12:30 UTC: p95 > 200")),
        (
            3,
            {"requests": 5},
            _event(1, "auto-rollback", 0),
            ("rolled back", "Rolled back automatically at 12:30 UTC: auto-rollback"),
        ),
        (3, None, None, ("deployed", "In production; serving figures need a deploykit server.")),
        (3, {"requests": 0}, None, ("idle", "No requests in the last 5 minutes.")),
        # 1 in 20 is 5%: the error_rate rule fires *above* its threshold, and so does this
        (
            3,
            {"requests": 20, "errors_5xx": 1},
            None,
            ("serving", "20 requests in the last 5 minutes."),
        ),
        (
            3,
            {"requests": 20, "errors_5xx": 2},
            None,
            ("errors", "2 of 20 requests failed (5xx) in the last 5 minutes."),
        ),
        # refused inputs (4xx) are the caller's mistakes, not the model failing
        (
            3,
            {"requests": 20, "errors_4xx": 20},
            None,
            ("serving", "20 requests in the last 5 minutes."),
        ),
    ],
)
def test_the_verdict_says_the_most_urgent_thing(live, figures, alert, expected):
    found = health.verdict(live, figures, alert=alert)
    assert (found.status, found.detail) == expected
    assert found.status in health.STATUSES


def test_a_manual_move_after_an_alert_clears_it_and_old_alerts_expire():
    alert = _event(1, "alert", 5)
    assert health.current_alert([alert], now=NOW) == alert
    assert health.current_alert([alert, _event(2, "deploy", 1)], now=NOW) is None
    assert health.current_alert([_event(2, "deploy", 6), alert], now=NOW) == alert
    assert health.current_alert([_event(1, "alert", 16)], now=NOW) is None


def test_only_the_live_versions_figures_count():
    metrics = {"total": {"requests": 100}, "versions": {"2": {"requests": 100, "errors_5xx": 90}}}
    assert health.live_figures(metrics, 3) == {}  # v2 failed, then v3 went live: idle, not red
    assert health.live_figures(metrics, 2)["errors_5xx"] == 90
    assert health.live_figures(None, 2) == {}


class _Backend:
    """What both surfaces read: one model, its metrics, no events (only the figures matter)."""

    def __init__(self, live: int | None, metrics: dict[str, Any]) -> None:
        self.info = ModelInfo("churn", NOW, 3, {"production": live} if live else {})
        self._metrics = metrics

    def models(self) -> list[ModelInfo]:
        return [self.info]

    def metrics(self, name: str, *, window: int) -> dict[str, Any]:
        return self._metrics

    def drift(self, name: str) -> dict[str, Any]:
        return {}

    def estimated_performance(self, name: str, **kwargs: Any) -> Any:
        raise ConflictError("no calibration evidence")  # only the serving figures matter here

    def events(self, *args: Any, **kwargs: Any) -> list[Event]:
        return []

    def experiment(self, name: str) -> None:
        return None


@pytest.mark.parametrize(
    ("live", "per_version"),
    [
        (3, {"3": {"requests": 100, "errors_5xx": 6}}),
        (3, {"3": {"requests": 100, "errors_5xx": 5}}),
        (3, {"2": {"requests": 100, "errors_5xx": 90}}),
        (None, {}),
    ],
)
def test_the_console_and_the_sidebar_give_one_model_the_same_badge(live, per_version):
    metrics = {"total": {"requests": 100, "errors_5xx": 60}, "versions": per_version}
    sidebar = Deployments(lambda: _Backend(live, metrics), mode="server", target="t")
    row = sidebar.models()[0]
    console = summarize(_Backend(live, metrics).info, metrics)
    assert (row["status"], row["status_detail"]) == (console.status, console.status_note)
    assert sidebar.window_seconds == health.WINDOW_SECONDS == 300
