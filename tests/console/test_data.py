"""Overview lines and badges from server answers; fetching from a real server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from deploykit.client import Client
from deploykit.console.data import fetch_access, fetch_model, fetch_overview, summarize
from deploykit.errors import ModelNotFoundError
from deploykit.records import Event, ModelInfo

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def _info(production: int | None = 3) -> ModelInfo:
    aliases = {} if production is None else {"production": production}
    return ModelInfo("churn", NOW, 3, aliases)


def _metrics(version: int, requests: int, e4: int = 0, e5: int = 0) -> dict:
    figures = {
        "requests": requests,
        "errors_4xx": e4,
        "errors_5xx": e5,
        "throughput_rps": requests / 300,
        "latency_p95_ms": 4.2,
    }
    return {"total": figures, "versions": {str(version): figures}, "series": []}


def test_summary_of_a_healthy_model():
    s = summarize(_info(3), _metrics(3, requests=600, e4=6, e5=3))
    assert (s.status, s.live_version, s.requests, s.requests_per_s) == ("serving", 3, 600, 2.0)
    assert s.error_rate == pytest.approx(0.005)  # server failures only: refused inputs apart
    assert s.latency_p95_ms == 4.2


def test_summary_turns_red_on_server_errors_of_the_live_version_only():
    bad = summarize(_info(3), _metrics(3, requests=100, e5=6))
    assert bad.status == "errors"
    assert bad.status_note == "6 of 100 requests failed (5xx) in the last 5 minutes."
    # the failing version is no longer live: production's own figures decide
    old = summarize(_info(2), _metrics(3, requests=100, e5=60))
    assert (old.status, old.requests) == ("idle", 0)


def test_summary_of_models_without_production_or_without_traffic():
    assert summarize(_info(None), None).status == "not deployed"
    assert summarize(_info(3), _metrics(3, requests=0)).status == "idle"
    unknown = summarize(_info(3), None, "metrics: the server is down")
    assert (unknown.status, unknown.status_note) == ("unknown", "metrics: the server is down")


def test_a_recent_alert_or_automatic_rollback_sets_the_badge():
    alert = Event(7, NOW, "deploykit-monitor", "alert", "churn", reason="errors: 0.09 > 0.05")
    s = summarize(_info(3), _metrics(3, requests=100), alert=alert)
    assert s.status == "alert"
    assert s.status_note == "Alert at 12:00 UTC: errors: 0.09 > 0.05"
    back = Event(8, NOW, "deploykit-monitor", "auto-rollback", "churn", "production", 3, 2)
    assert summarize(_info(2), None, alert=back).status == "rolled back"


# -- against a real server -------------------------------------------------------------------


def test_fetch_overview_reads_every_model(client):
    found = {s.name: s for s in fetch_overview(client, window_seconds=600, drift_seconds=3600)}
    assert sorted(found) == ["draft", "iris"]
    iris = found["iris"]
    assert (iris.live_version, iris.latest_version, iris.status) == (3, 3, "serving")
    assert iris.requests >= 5
    assert iris.latency_p95_ms is not None
    assert iris.drifted_share == 0.0  # same data as the reference profile
    assert found["draft"].status == "not deployed"


def test_fetch_model_reads_versions_metrics_drift_and_audit_log(client):
    page = fetch_model(client, "iris", window_seconds=3600)
    assert page.live_version == 3
    assert [v.version for v in page.versions] == [1, 2, 3]
    assert page.serving["requests"].sum() >= 5
    assert page.drift is not None
    assert set(page.drift.features) == {
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    }
    assert [e.action for e in page.events][:2] == ["deploy", "push"]
    assert page.problems == ()


def test_fetch_model_of_an_unknown_model_raises(client):
    with pytest.raises(ModelNotFoundError):
        fetch_model(client, "nope")


def test_access_of_admin_and_viewer_tokens(server, client):
    admin = fetch_access(client)
    assert admin.can_act
    assert admin.role == "admin"
    assert admin.reason is None
    with Client(server.url, token=client.create_token("viewer", name="dashboards")) as viewer:
        access = fetch_access(viewer)
    assert not access.can_act
    assert access.reason.startswith("Read-only: your token (dashboards) has the")
    assert "'deployer' or 'admin' token" in access.reason
