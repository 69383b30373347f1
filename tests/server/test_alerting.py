"""The alert evaluator's figures from real telemetry rows, and a webhook that fails quietly."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.monitoring import AlertRule
from deploykit.registry import Registry
from deploykit.server.alerting import _post, measure
from deploykit.server.telemetry import Telemetry
from deploykit.server.testing import free_port
from tests.server.conftest import settings_for


def test_rates_and_latency_come_from_the_judged_version(tmp_path: Path) -> None:
    with Registry(settings_for(tmp_path)) as reg:
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
        reg.push(LogisticRegression().fit(X, [0, 0, 1, 1]), "churn", X=X)
        telemetry = Telemetry(reg.engine, bucket_seconds=1)
        for i in range(100):
            status = 500 if i < 10 else 422 if i < 15 else 200
            telemetry.record("churn", 2, status, 0.004, rows=1)
        telemetry.record("churn", 1, 500, 0.5, rows=1)  # another version: not counted
        telemetry.flush()
        now = time.time() + 1

        def figure(metric: str, threshold: float) -> tuple[float | None, int]:
            rule = AlertRule("churn", "r", metric, threshold, window_seconds=60)
            value, count, _ = measure(reg, rule, 2, now)
            return value, count

        assert figure("error_rate", 0.05) == (0.10, 100)
        assert figure("client_error_rate", 0.05) == (0.05, 100)
        p95, requests = figure("latency_p95_ms", 100)
        assert requests == 100
        assert p95 is not None
        assert 2 < p95 < 8  # 4 ms, read from log-spaced buckets
        rule = AlertRule("churn", "r", "error_rate", 0.05, window_seconds=60)
        assert measure(reg, rule, 2, now + 3600) == (None, 0, {})  # nothing in that window


def test_a_webhook_that_cannot_be_reached_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="deploykit.server"):
        _post(url, {"type": "deploykit.alert"}, ("127.0.0.1/32",))
    assert time.monotonic() - start < 3
    assert f"alert webhook {url} failed" in caplog.text
