"""Server answers shaped into the frames the charts take."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from deploykit.console.frames import distribution, drift_frames, serving_frame
from deploykit.monitoring.results import (
    Accuracy,
    AccuracyWindow,
    DriftReport,
    DriftTimeline,
    DriftWindow,
    FeatureDrift,
)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def test_serving_frame_is_sorted_typed_and_in_utc():
    frame = serving_frame(
        {
            "series": [
                {"start": 120, "version": 2, "requests": 5, "latency_p95_ms": None},
                {"start": 60, "version": 1, "requests": 3, "latency_p95_ms": 2.5},
            ]
        }
    )
    assert list(frame["version"]) == [1, 2]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["time"].iloc[0] == datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc)
    assert frame["errors_5xx"].tolist() == [0, 0]  # absent counts are zero, not NaN
    assert frame["latency_p95_ms"].isna().tolist() == [False, True]


def _timeline() -> DriftTimeline:
    def feature(name: str, score: float, drifted: bool, **counts: object) -> FeatureDrift:
        return FeatureDrift(name, "numeric", "wasserstein", score, 0.1, drifted, 100, 50)

    overall = DriftReport(
        rows=50,
        features=(feature("age", 0.3, True), feature("plan", 0.01, False)),
        prediction=FeatureDrift(
            "prediction", "categorical", "jensenshannon", 0.02, 0.1, False, 1, 1
        ),
        model="churn",
        version=3,
    )
    t1, t2 = NOW, NOW + timedelta(hours=1)
    windows = (
        DriftWindow(t1, t2, 20, 0.0, (), {"age": 0.05, "plan": 0.01}, 0.01, False),
        DriftWindow(t2, t2 + timedelta(hours=1), 30, 0.5, ("age",), {"age": 0.4, "plan": None}),
    )
    accuracy = Accuracy("accuracy", True, 0.93, 12, 0.9, (AccuracyWindow(t1, t2, 12, 0.9),))
    return DriftTimeline(overall, 3600, windows, accuracy)


@pytest.mark.parametrize("as_dict", [False, True])
def test_drift_frames_from_a_timeline_or_its_json(as_dict):
    timeline = _timeline()
    drift = drift_frames(timeline.to_dict() if as_dict else timeline)
    assert drift.features == ("age", "plan")
    assert drift.drifted_features == ("age",)
    assert drift.drifted_share == 0.5
    w = drift.windows
    assert w["feature"].tolist() == ["age", "plan", "age", "plan"]
    assert w["score"].tolist()[:3] == [0.05, 0.01, 0.4]
    assert w["drifted"].tolist() == [False, False, True, False]
    assert w["since"].iloc[2] == NOW + timedelta(hours=1)
    assert drift.prediction["score"].tolist()[0] == 0.01
    assert drift.accuracy["value"].tolist() == [0.9]
    assert (drift.accuracy_metric, drift.accuracy_reference) == ("accuracy", 0.93)
    assert drift.distributions == {}  # this server sent no bin counts


def test_distribution_from_bin_counts_when_the_server_sends_them():
    numeric = {
        "feature": "age",
        "bin_edges": [0.0, 1.5, 10.0],
        "reference_counts": [80, 20],
        "current_counts": [5, 15],
    }
    assert distribution(numeric) == (["[0, 1.5)", "[1.5, 10)"], [80.0, 20.0], [5.0, 15.0])
    plan = {"bins": ["basic", "gold"], "reference_counts": [3, 1], "current_counts": [1, 1]}
    assert distribution(plan) == (["basic", "gold"], [3.0, 1.0], [1.0, 1.0])
    assert distribution({"feature": "age", "score": 0.1}) is None
    assert distribution({**plan, "current_counts": [1]}) is None


def test_a_bucket_still_filling_is_a_rate_over_the_time_passed_not_a_drop():
    metrics = {
        "step_seconds": 60,
        "series": [
            {"start": 0, "version": 1, "requests": 120, "throughput_rps": 2.0},
            {"start": 60, "version": 1, "requests": 30, "throughput_rps": 0.5},  # 15 s old
        ],
    }
    frame = serving_frame(metrics, now=75.0)
    assert frame["throughput_rps"].tolist() == [2.0, 2.0]
    assert serving_frame(metrics)["throughput_rps"].tolist() == [2.0, 0.5]  # as the server says
