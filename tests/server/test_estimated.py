"""Estimated performance over HTTP, on a real server with real traffic and no labels:
the route and the client answer it, bad input is a 422, and a rule on the estimate
rolls production back before any label arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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


def test_the_multivariate_rule_measures_a_correlation_flip(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    import pyarrow as pa

    from deploykit.monitoring import AlertRule
    from deploykit.monitoring.logs import write_log_file
    from deploykit.server.alerting import measure

    rng = np.random.default_rng(0)

    def draw(n: int, rho: float) -> pd.DataFrame:
        X = rng.normal(size=(n, 4))
        X[:, 1] = rho * X[:, 0] + np.sqrt(1 - rho**2) * X[:, 1]
        return pd.DataFrame(X, columns=list("abcd"))

    reference = draw(5000, 0.8)
    model = LogisticRegression().fit(reference, (reference["a"] > 0).astype(int))
    now = datetime.now(timezone.utc)
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(model, "flip", X=reference, deploy=True)
        flipped = draw(2000, -0.8)
        table = pa.table(
            {
                "request_id": [f"r{i}" for i in range(len(flipped))],
                "timestamp": pa.array([now] * len(flipped), pa.timestamp("us", tz="UTC")),
                "version": np.ones(len(flipped), dtype=np.int64),
                "prediction": model.predict(flipped),
                **{f"input.{c}": flipped[c].to_numpy() for c in flipped.columns},
            }
        )
        write_log_file(reg.settings.artifacts_url, "flip", table, at=now, tag="t")
        rule = AlertRule("flip", "together", "multivariate_drift", 2.0, window_seconds=60)
        value, count, details = measure(reg, rule, 1, now.timestamp() + 1)
        assert count == 2000
        assert value is not None
        assert value > 2.0  # -log10(p): p < 0.01
        assert details["p_value"] < 0.01
        drift_share = AlertRule("flip", "share", "drift_share", 0.1, window_seconds=60)
        assert measure(reg, drift_share, 1, now.timestamp() + 1)[0] == 0.0  # no marginal moved
