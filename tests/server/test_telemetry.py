"""Telemetry: in-memory counts flushed as increments, so replicas add up."""

from __future__ import annotations

import time
from pathlib import Path

from deploykit.registry import Registry
from deploykit.server.telemetry import Telemetry, percentile, prometheus_text, summary
from tests.server.conftest import settings_for


def test_two_replicas_flushing_the_same_bucket_add_up(tmp_path: Path) -> None:
    with Registry(settings_for(tmp_path)) as reg:
        a = Telemetry(reg.engine, bucket_seconds=3600)
        b = Telemetry(reg.engine, bucket_seconds=3600)
        for _ in range(90):
            a.record("m", 1, 200, 0.002, rows=1)
        for _ in range(10):
            b.record("m", 1, 500, 0.200, rows=3)
        a.record("m", 1, 422, 0.001, rows=0)
        a.flush()
        b.flush()
        a.record("m", 2, 200, 0.001, rows=1)
        a.flush()
        figures = summary(reg.engine, "m", window_seconds=7200)
        v1 = figures["versions"]["1"]
        assert v1["requests"] == 101
        assert v1["errors_5xx"] == 10
        assert v1["errors_4xx"] == 1
        assert v1["rows"] == 120
        assert 1.0 <= v1["latency_p50_ms"] <= 3.0
        assert v1["latency_p99_ms"] >= 100
        assert figures["total"]["requests"] == 102
        text = prometheus_text(reg.engine, [("m", "production", 2)])
        assert 'deploykit_requests_total{model="m",version="1",code="5xx"} 10' in text
        assert 'deploykit_request_duration_seconds_count{model="m",version="1"} 101' in text
        assert 'deploykit_served_version{model="m",alias="production"} 2' in text


def test_percentiles_interpolate_within_a_bucket() -> None:
    hist = [0] * 36
    assert percentile(hist, 0.5) is None
    hist[10] = 100
    p50 = percentile(hist, 0.5)
    assert p50 is not None
    assert 0.05 * 1.5**9 < p50 <= 0.05 * 1.5**10


def test_a_query_early_in_a_bucket_still_counts_that_bucket(tmp_path: Path) -> None:
    # Regression: "until" truncated to whole seconds dropped the bucket that had just begun,
    # so a request followed at once by a metrics query was sometimes counted as 0.
    with Registry(settings_for(tmp_path)) as reg:
        telemetry = Telemetry(reg.engine, bucket_seconds=10)
        telemetry.record("m", 1, 200, 0.002, rows=1)
        telemetry.flush()
        bucket_start = int(time.time() // 10) * 10
        figures = summary(reg.engine, "m", since=bucket_start - 60, until=bucket_start + 0.5)
        assert figures["total"]["requests"] == 1
