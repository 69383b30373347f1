"""Estimated performance over HTTP, on a real server with real traffic and no labels:
the route and the client answer it, bad input is a 422, and a rule on the estimate
rolls production back before any label arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.client import Client
from deploykit.evaluation import evaluate
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.server.conftest import settings_for

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class World:
    client: Client
    url: str
    token: str
    model: Any
    X: pd.DataFrame
    y: np.ndarray


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = settings_for(tmp_path_factory.mktemp("estimated-home"))
    X, y = make_classification(n_samples=6000, n_features=5, class_sep=1.5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression().fit(frame[:2000], y[:2000])
    report = evaluate(model, frame[2000:4000], y[2000:4000])
    with Registry(settings) as registry:
        for name in ("fraud", "loan"):
            registry.push(model, name, X=frame[:2000], evaluation=report, deploy=True)
            registry.push(model, name, X=frame[:2000], evaluation=report, deploy=True)
        registry.push(model, "bare", X=frame[:2000], deploy=True)  # no evaluation
    config = ServerConfig(
        log_flush_seconds=0.2,
        telemetry_bucket_seconds=1,
        telemetry_flush_seconds=0.2,
        alert_interval_seconds=0.3,
    )
    with LiveServer(settings, config) as server:
        assert server.token is not None
        client = Client(server.url, token=server.token)
        yield World(client, server.url, server.token, model, frame, y)
        client.close()


def send(client: Client, name: str, frame: pd.DataFrame, batch: int = 50) -> None:
    for i in range(0, len(frame), batch):
        client.predict(name, frame.iloc[i : i + batch])


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_estimated_accuracy_before_any_label(world: World) -> None:
    rows = world.X.iloc[4000:5000]
    send(world.client, "fraud", rows)
    result = eventually(
        lambda: (r := world.client.estimated_performance("fraud")).overall.rows == 1000 and r
    )
    assert result.version == 2
    assert result.task == "binary"
    acc = result.overall.metrics["accuracy"]
    realized = float(np.mean(world.model.predict(rows) == world.y[4000:5000]))
    assert acc.value == pytest.approx(realized, abs=0.03)
    assert acc.lower <= acc.value <= acc.upper
    assert result.overall.trusted
    assert result.overall.labelled == 0
    assert set(result.metrics) == {"accuracy", "roc_auc", "precision", "recall", "f1"}
    # the plain HTTP answer, as the OpenAPI document describes it
    r = httpx.get(
        f"{world.url}/v1/models/fraud/estimated",
        params={"step": 3600, "since": time.time() - 3600, "confidence": 0.8},
        headers={"authorization": f"Bearer {world.token}"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["confidence"] == 0.8
    assert sum(w["rows"] for w in body["windows"]) == 1000  # one-hour steps over the hour
    spec = httpx.get(f"{world.url}/openapi.json").json()
    assert "/v1/models/{name}/estimated" in spec["paths"]


def test_bad_confidence_is_a_422_naming_it(world: World) -> None:
    r = httpx.get(
        f"{world.url}/v1/models/fraud/estimated",
        params={"confidence": "most"},
        headers={"authorization": f"Bearer {world.token}"},
    )
    assert r.status_code == 422
    assert "'confidence'" in r.json()["error"]["message"]
    assert "'most'" in r.json()["error"]["message"]


def test_a_version_without_evidence_is_reported_untrusted(world: World) -> None:
    send(world.client, "bare", world.X.iloc[4000:4200])
    result = eventually(
        lambda: (r := world.client.estimated_performance("bare")).overall.rows and r
    )
    assert not result.overall.trusted
    assert result.overall.metrics["accuracy"].value is None
    assert "no calibration evidence" in result.overall.reasons[0]


def test_a_rule_on_estimated_accuracy_rolls_back_before_labels(world: World) -> None:
    client = world.client
    client.set_alert(
        "loan",
        "estimated",
        metric="estimated_accuracy_drop",
        threshold=0.1,
        window_seconds=60,
        min_count=200,
        rollback=True,
    )
    # traffic on the decision boundary: the model is unsure, so it is often wrong
    proba = world.model.predict_proba(world.X)[:, 1]
    unsure = world.X[np.abs(proba - 0.5) < 0.2]
    assert len(unsure) >= 250
    send(client, "loan", unsure.iloc[:250])
    rolled = eventually(lambda: client.events("loan", action="auto-rollback"))
    assert len(rolled) == 1
    [alert] = client.events("loan", action="alert")
    assert alert.details["metric"] == "estimated_accuracy_drop"
    assert alert.details["estimated_metric"] == "accuracy"
    assert alert.details["estimated"] < alert.details["at_push"] - 0.1
    assert (rolled[0].from_version, rolled[0].to_version) == (2, 1)
    assert client.model("loan").production == 1
