"""Prediction logs read back from Parquet: filtered by time and version, windows for charts."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deploykit.monitoring import ReferenceProfile, read_log
from deploykit.monitoring.periods import Period
from deploykit.monitoring.timeline import drift_timeline
from deploykit.server.predlog import PredictionLog

T0 = datetime(2025, 3, 1, 23, 0, tzinfo=timezone.utc)


def write(root: Path, day: str, name: str, table: pa.Table) -> None:
    folder = root / "predictions" / "churn" / day
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def rows(start: datetime, n: int, seconds: float, version: int, **columns: object) -> pa.Table:
    at = [start + timedelta(seconds=seconds * i / n) for i in range(n)]
    return pa.table(
        {
            "request_id": [f"r{version}-{i}" for i in range(n)],
            "timestamp": pa.array(at, type=pa.timestamp("us", tz="UTC")),
            "version": pa.array([version] * n, type=pa.int64()),
            **{k: pa.array(v) for k, v in columns.items()},  # type: ignore[arg-type]
        }
    )


def test_the_server_logs_read_back_by_time_and_version(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=60)
    X = np.arange(12, dtype=float).reshape(6, 2)
    start = time.time()
    log.add("a", "churn", 1, X[:3], np.array([0, 1, 0]), ("age", "spend"))
    log.add("b", "churn", 2, X[3:], np.array([1, 1, 0]), ("age", "spend"))
    assert log.flush() == 6
    since = datetime.fromtimestamp(start - 1, tz=timezone.utc)
    table = read_log(str(tmp_path), "churn", since=since, version=2)
    assert table.column("request_id").to_pylist() == ["b"] * 3
    assert table.column("input.age").to_pylist() == [6.0, 8.0, 10.0]
    later = datetime.fromtimestamp(start + 3600, tz=timezone.utc)
    assert read_log(str(tmp_path), "churn", since=later).num_rows == 0
    assert read_log(str(tmp_path), "nobody").num_rows == 0


def test_every_row_carries_its_requests_id(tmp_path: Path) -> None:
    """Ids are written once per request and repeated per row (built from buffers)."""
    log = PredictionLog(str(tmp_path), flush_seconds=60)
    sizes = {"a": 1, "bé-2": 100, "c": 7, "": 2}
    for rid, n in sizes.items():
        log.add(rid, "churn", 1, np.ones((n, 2)), np.zeros(n, dtype=int), ("age", "spend"))
    assert log.flush() == 110
    ids = read_log(str(tmp_path), "churn").column("request_id")
    assert ids.type == pa.string()
    expected = [rid for rid, n in sizes.items() for _ in range(n)]
    assert ids.to_pylist() == expected


def test_files_across_midnight_and_clashing_types_are_read(tmp_path: Path) -> None:
    # A file in 03-01's folder holds rows past midnight; another wrote 'plan' as numbers.
    write(tmp_path, "2025-03-01", "230000-a.parquet", rows(T0, 120, 7200, 1, plan=["gold"] * 120))
    write(
        tmp_path,
        "2025-03-02",
        "010000-b.parquet",
        rows(T0 + timedelta(hours=2), 60, 600, 1, plan=[7] * 60, extra=[1.5] * 60),
    )
    write(tmp_path, "2025-03-02", ".010500-c.parquet.tmp", rows(T0, 5, 1, 1, plan=["x"] * 5))
    since = datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc)
    table = read_log(str(tmp_path), "churn", since=since, columns=["timestamp", "plan", "nope"])
    assert table.column_names == ["timestamp", "plan"]
    assert table.num_rows == 60 + 60  # the second hour of the first file, and all the second
    assert sorted(set(table.column("plan").to_pylist())) == ["7", "gold"]


def test_a_timeline_cuts_the_period_into_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    profile = ReferenceProfile.from_data(pd.DataFrame({"age": rng.normal(40, 10, 5000)}))
    calm = rows(T0, 600, 3600, 1, **{"input.age": rng.normal(40, 10, 600)})
    shifted = rows(T0 + timedelta(hours=1), 600, 3600, 1, **{"input.age": rng.normal(60, 10, 600)})
    write(tmp_path, "2025-03-01", "230000-a.parquet", calm)
    write(tmp_path, "2025-03-02", "000000-a.parquet", shifted)
    span = Period(T0, T0 + timedelta(hours=3), 3600)
    table = read_log(str(tmp_path), "churn", since=span.since, until=span.until)
    timeline = drift_timeline(profile, table, span, model="churn", version=1)
    assert timeline.overall.rows == 1200
    assert [w.rows for w in timeline.windows] == [600, 600, 0]
    assert [w.drifted_features for w in timeline.windows] == [(), ("age",), ()]
    assert timeline.windows[2].drifted_share is None  # no traffic: no verdict, not an error
    assert timeline.windows[1].scores["age"] > 1.5  # two reference std of Wasserstein
    data = timeline.to_dict()
    assert data["step_seconds"] == 3600
    assert len(data["windows"]) == 3


def test_a_busy_log_flushes_early_and_drops_beyond_its_memory_bound(
    tmp_path: Path, monkeypatch
) -> None:
    # Bounds in input cells (rows x columns): lowered here so a few requests reach them.
    monkeypatch.setattr("deploykit.server.predlog._FLUSH_CELLS", 400)
    monkeypatch.setattr("deploykit.server.predlog._MAX_PENDING_CELLS", 1000)
    log = PredictionLog(str(tmp_path), flush_seconds=60)  # never on time within this test
    X = np.ones((10, 20))  # 200 cells a request
    for i in range(5):
        log.add(f"r{i}", "churn", 1, X, np.zeros(10, dtype=int), tuple(f"f{j}" for j in range(20)))
    log.add("r5", "churn", 1, X, np.zeros(10, dtype=int))  # 1,200 cells: over the bound
    assert log.dropped == 10
    log.start()
    try:
        deadline = time.monotonic() + 10
        while log.written_rows < 50:  # the early flush, long before 60 s
            assert time.monotonic() < deadline, "no early flush"
            time.sleep(0.05)
    finally:
        log.stop()
    table = read_log(str(tmp_path), "churn")
    assert sorted(set(table.column("request_id").to_pylist())) == [f"r{i}" for i in range(5)]
    # measured values are stored plainly, ids and labels with dictionaries
    path = next((tmp_path / "predictions" / "churn").rglob("*.parquet"))
    columns = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings
        for i in range(columns.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["request_id"]
    assert "RLE_DICTIONARY" not in encodings["input.f0"]
