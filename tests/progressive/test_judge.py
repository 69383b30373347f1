"""Promote on evidence, on a real 3-worker server: the monitor promotes a candidate whose
policy holds and aborts one whose labels show it worse; both decisions audited with their
statistics, actor deploykit-monitor."""

from __future__ import annotations

import time

import httpx

from .conftest import Trial


def _traffic(trial: Trial, name: str, rows: int) -> list[tuple[str, int]]:
    """(request id, true label) of ``rows`` single-row predictions."""
    out = []
    with httpx.Client(base_url=trial.url, timeout=30) as c:
        for i in range(rows):
            row = trial.X.iloc[i % len(trial.X)]
            body = {"dataframe_records": [row.to_dict()]}
            r = c.post(f"/v1/models/{name}/predict", json=body)
            assert r.status_code == 200, r.text
            out.append((r.json()["request_id"], int(trial.y[i % len(trial.y)])))
    return out


def _until(check, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_the_monitor_promotes_when_the_policy_holds(trial: Trial) -> None:
    trial.fresh("good")
    trial.client.canary(
        "good", 2, percent=50, promote_when="error_rate<=production", min_requests=100
    )
    time.sleep(1.0)
    _traffic(trial, "good", 400)
    assert _until(lambda: trial.registry.model("good").production == 2)
    ended = trial.client.experiment("good")
    assert ended is not None
    assert ended.state == "promoted"
    event = trial.registry.events("good", action="experiment-promote")[0]
    assert event.actor == "deploykit-monitor"
    assert event.reason is not None
    assert event.reason.startswith("automatic promote: evidence holds")
    stats = event.details["statistics"]
    assert stats["action"] == "promote"
    assert stats["requests"] >= 100
    assert stats["checks"][0]["clause"] == "error_rate<=production"
    # every worker follows: all answers now come from version 2, with no experiment header
    with httpx.Client(base_url=trial.url, timeout=30) as c:
        time.sleep(1.0)
        r = c.post(
            "/v1/models/good/predict", json={"dataframe_records": [trial.X.iloc[0].to_dict()]}
        )
        assert r.headers["x-model-version"] == "2"
        assert "x-deploykit-variant" not in r.headers


def test_the_monitor_aborts_a_candidate_that_labels_show_worse(trial: Trial) -> None:
    trial.fresh("worse")
    trial.client.canary(
        "worse", 3, percent=50, promote_when="accuracy>=production-0.01", min_requests=50
    )
    time.sleep(1.0)
    answered = _traffic(trial, "worse", 400)
    labels = [{"request_id": rid, "label": label} for rid, label in answered]
    r = httpx.post(
        f"{trial.url}/v1/models/worse/feedback",
        json={"feedback": labels},
        headers=trial.headers(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert _until(lambda: not trial.registry.experiment("worse").running)  # type: ignore[union-attr]
    ended = trial.registry.experiment("worse")
    assert ended is not None
    assert ended.state == "aborted"
    assert ended.end_reason is not None
    assert "breach: accuracy>=production-0.01" in ended.end_reason
    assert trial.registry.model("worse").production == 1
    check = ended.statistics["checks"][0]
    assert check["status"] == "breached"
    assert check["high"] < -0.01


def test_evidence_reads_the_test_without_acting(trial: Trial) -> None:
    trial.fresh("peek")
    trial.client.canary("peek", 2, percent=10, promote_when="accuracy>=production-0.01")
    decision = trial.client.evidence("peek")
    assert decision is not None
    assert decision["action"] == "wait"
    assert trial.client.experiment("peek").running  # type: ignore[union-attr]
    trial.client.abort("peek", "done")
