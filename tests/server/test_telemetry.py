"""Telemetry: in-memory counts flushed as increments, so replicas add up."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from deploykit.monitoring.tables import telemetry_counts
from deploykit.monitoring.telemetry import ARCHIVE_BUCKET, percentile, summary
from deploykit.registry import Registry
from deploykit.server.prometheus import prometheus_text
from deploykit.server.telemetry import Telemetry, compact
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
        edges = re.findall(r'le="([^"]+)"', text)
        assert 'le="0.0002531"' in text  # 0.2531 ms, without float noise
        assert max(len(e) for e in edges) <= 12, edges


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


DAY = 86400


def _record_at(monkeypatch, telemetry: Telemetry, at: float, *args, **kwargs) -> None:
    monkeypatch.setattr("deploykit.server.telemetry.time.time", lambda: at)
    telemetry.record(*args, **kwargs)
    monkeypatch.undo()


def _bucket_rows(reg: Registry) -> list[int]:
    with reg.engine.connect() as conn:
        return sorted(conn.execute(sa.select(telemetry_counts.c.bucket)).scalars())


def test_old_buckets_fold_into_all_time_totals_that_metrics_keep(
    tmp_path: Path, monkeypatch
) -> None:
    now = time.time()
    with Registry(settings_for(tmp_path)) as reg:
        telemetry = Telemetry(reg.engine, bucket_seconds=10, retention_seconds=30 * DAY)
        for _ in range(100):
            _record_at(monkeypatch, telemetry, now - 40 * DAY, "m", 1, 200, 0.002, rows=1)
        for _ in range(5):
            _record_at(monkeypatch, telemetry, now - 35 * DAY, "m", 1, 503, 0.300, rows=1)
        _record_at(monkeypatch, telemetry, now - 40 * DAY, "m", 2, 200, 0.001, rows=2)
        for _ in range(7):
            telemetry.record("m", 1, 200, 0.004, rows=1)
        telemetry.flush()
        before = prometheus_text(reg.engine)
        assert 'deploykit_requests_total{model="m",version="1",code="2xx"} 107' in before

        assert telemetry.compact(now=now) == 3  # v1 at -40 and -35 days, v2 at -40 days

        assert prometheus_text(reg.engine) == before  # counters never go down
        buckets = _bucket_rows(reg)
        assert buckets.count(ARCHIVE_BUCKET) == 2  # one all-time row per version
        assert [b for b in buckets if b != ARCHIVE_BUCKET] == [int(now // 10) * 10]
        recent = summary(reg.engine, "m", window_seconds=3600)
        assert recent["total"]["requests"] == 7  # windows never see the all-time rows
        assert telemetry.compact(now=now) == 0

        # A bucket flushed late (counts kept through failed flushes) folds in next time.
        _record_at(monkeypatch, telemetry, now - 31 * DAY, "m", 1, 200, 0.002, rows=1)
        telemetry.flush()
        assert telemetry.compact(now=now) == 1
        assert 'version="1",code="2xx"} 108' in prometheus_text(reg.engine)


def test_replicas_compacting_at_once_count_every_bucket_once(tmp_path: Path, monkeypatch) -> None:
    now = time.time()
    with Registry(settings_for(tmp_path)) as reg:
        telemetry = Telemetry(reg.engine, bucket_seconds=10)
        for day in range(31, 61):
            _record_at(monkeypatch, telemetry, now - day * DAY, "m", 1, 200, 0.002, rows=1)
        telemetry.flush()
        before = prometheus_text(reg.engine)
        folded: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: folded.append(compact(reg.engine, before=int(now - 30 * DAY)))
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(folded) == 30  # a day at a time, whoever gets there first
        assert prometheus_text(reg.engine) == before


def test_retention_zero_keeps_every_bucket(tmp_path: Path, monkeypatch) -> None:
    now = time.time()
    with Registry(settings_for(tmp_path)) as reg:
        telemetry = Telemetry(reg.engine, retention_seconds=0)
        _record_at(monkeypatch, telemetry, now - 400 * DAY, "m", 1, 200, 0.002, rows=1)
        telemetry.flush()
        assert telemetry.compact(now=now) == 0
        assert ARCHIVE_BUCKET not in _bucket_rows(reg)


def test_migrated_schema_matches_the_server_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from deploykit.server.tables import metadata

    def ours(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or table in metadata.tables

    with Registry(settings_for(tmp_path)) as reg, reg.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, metadata) == []
