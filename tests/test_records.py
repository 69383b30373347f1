import json
from datetime import datetime, timezone

from deploykit.records import Event, ModelInfo, ModelVersion


def test_model_version_round_trips_through_json():
    version = ModelVersion(
        model="churn",
        version=3,
        digest="sha256:" + "ab" * 32,
        format="joblib",
        size=1234,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        author="ana",
        estimator="sklearn.linear_model.LogisticRegression",
        metrics={"roc_auc": 0.91},
        aliases=("production",),
        gate={"passed": False, "checks": []},
    )
    again = ModelVersion.from_dict(json.loads(json.dumps(version.to_dict())))
    assert again == version
    assert again.ref == "churn:3"
    assert again.gate_passed is False


def test_naive_datetimes_are_read_as_utc():
    event = Event.from_dict(
        {"id": 1, "at": "2026-01-02T03:04:05", "actor": "a", "action": "push", "model": "m"}
    )
    assert event.at.tzinfo is timezone.utc


def test_model_info_exposes_production_alias():
    info = ModelInfo(
        name="m",
        created_at=datetime.now(timezone.utc),
        latest_version=2,
        aliases={"production": 1, "staging": 2},
    )
    assert info.production == 1
    assert ModelInfo.from_dict({**info.to_dict(), "unknown_field": 1}) == info


def test_a_version_prints_without_its_bulky_nested_records():
    version = ModelVersion(
        model="churn",
        version=1,
        digest="sha256:" + "0" * 64,
        format="joblib",
        size=10,
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        author="ana",
        estimator="sklearn.linear_model.LogisticRegression",
        signature={"inputs": [{"name": f"c{i}"} for i in range(300)]},
        evaluation={"metrics": {"x": 1.0}},
        environment={"python": "3.11"},
        metrics={"roc_auc": 0.9},
    )
    text = repr(version)
    assert "roc_auc" in text
    assert "c299" not in text
    assert len(text) < 400
