"""Metrics, drift and alerts over HTTP, on a real two-worker server with real traffic.

One server for the module: ``churn`` takes clean then drifted traffic (drift and
metrics over time, accuracy from feedback); ``loan`` gets an alert rule that fires
and rolls its production back, once, although both workers evaluate rules.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.client import Client
from deploykit.errors import InvalidInputError, NotFoundError
from deploykit.evaluation import evaluate
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from tests.server.conftest import settings_for

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class World:
    client: Client
    registry: Registry
    X: pd.DataFrame
    y: np.ndarray
    url: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The webhook receiver below listens on loopback, which webhooks may reach only if allowed.
    settings = settings_for(tmp_path_factory.mktemp("drift-home")).replace(
        webhook_allow_networks=("127.0.0.1/32",)
    )
    X, y = make_classification(n_samples=3000, n_features=5, random_state=0)
    X = pd.DataFrame(X, columns=COLUMNS)
    registry = Registry(settings)
    for name in ("churn", "loan"):
        for C in (0.05, 1.0):
            model = LogisticRegression(C=C).fit(X[:1500], y[:1500])
            report = evaluate(model, X[1500:2000], y[1500:2000])
            registry.push(model, name, X=X[:1500], evaluation=report, deploy=True)
    config = ServerConfig(
        workers=2,
        log_flush_seconds=0.2,
        telemetry_bucket_seconds=1,
        telemetry_flush_seconds=0.2,
        alert_interval_seconds=0.3,
    )
    with LiveServer(settings, config) as server:
        assert server.token is not None
        client = Client(server.url, token=server.token)
        yield World(client, registry, X, y, server.url)
        client.close()
    registry.close()


def send(client: Client, name: str, frame: pd.DataFrame, batch: int = 25) -> list[str]:
    return [
        client.predict(name, frame.iloc[i : i + batch]).request_id
        for i in range(0, len(frame), batch)
    ]


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until ``check`` returns something truthy: two workers flush on their own clocks."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_drift_and_metrics_over_time(world: World) -> None:
    client, X, y = world.client, world.X, world.y
    t0 = time.time()
    clean = X.iloc[2000:2400]
    ids = send(client, "churn", clean)
    for k, request_id in enumerate(ids[:8]):  # labels for 200 rows, as lists per request
        client.feedback("churn", request_id, y[2000 + 25 * k : 2025 + 25 * k].tolist())
    t1 = time.time()
    drifted = X.iloc[2400:2800].copy()
    drifted["age"] += 3 * X["age"].std()
    send(client, "churn", drifted)
    t2 = time.time() + 0.01

    before = eventually(
        lambda: (d := client.drift("churn", since=t0, until=t1)).overall.rows == 400 and d
    )
    assert before.overall.version == 2
    assert before.overall.drifted_features == ()
    assert [f.feature for f in before.overall.features] == COLUMNS
    assert before.overall.prediction is not None
    accuracy = before.accuracy
    assert accuracy is not None
    assert (accuracy.metric, accuracy.labelled) == ("accuracy", 200)
    assert accuracy.reference == client.version("churn", 2).metrics["accuracy"]
    assert accuracy.value is not None
    assert accuracy.value > 0.8

    after = eventually(
        lambda: (d := client.drift("churn", since=t1, until=t2, step=1)).overall.rows == 400 and d
    )
    assert after.overall.drifted_features == ("age",)
    assert after.overall.feature("age").score > 2  # reference std of Wasserstein distance
    assert sum(w.rows for w in after.windows) == 400
    assert {"age"} >= {f for w in after.windows for f in w.drifted_features}

    metrics = client.metrics("churn", since=t0 - 1, until=t2 + 2, step=1)
    assert metrics["versions"]["2"]["requests"] == 32
    assert metrics["total"]["errors_5xx"] == 0
    assert metrics["total"]["latency_p95_ms"] > 0
    assert sum(p["requests"] for p in metrics["series"]) == 32
    assert {p["version"] for p in metrics["series"]} == {2}


def test_a_quiet_period_is_an_answer_and_bad_periods_are_named(world: World) -> None:
    client = world.client
    paths = httpx.get(f"{world.url}/openapi.json").json()["paths"]
    for path in ("drift", "drift/options", "alerts", "alerts/{rule}", "metrics"):
        assert f"/v1/models/{{name}}/{path}" in paths
    quiet = client.drift("churn", since="2020-01-01T00:00:00", until="2020-01-02T00:00:00")
    assert (quiet.overall.rows, quiet.overall.drifted_share, quiet.accuracy.labelled) == (
        0,
        None,
        0,
    )
    assert client.metrics("churn", since="2020-01-01", until="2020-01-02")["total"]["requests"] == 0

    def message(path: str, method: str = "GET", **kwargs: Any) -> str:
        response = httpx.request(
            method,
            f"{world.url}{path}",
            headers={"authorization": f"Bearer {client.token}"},
            **kwargs,
        )
        assert response.status_code == 422, response.text
        return response.json()["error"]["message"]

    assert "'since' parameter must be before 'until'" in message(
        "/v1/models/churn/drift?since=2025-02-01&until=2025-01-01"
    )
    assert "'until' parameter must be an ISO 8601 time" in message(
        "/v1/models/churn/metrics?until=tomorrow"
    )
    assert "at most 1000 are allowed" in message(
        "/v1/models/churn/drift?since=2025-01-01&until=2025-01-02&step=1"
    )
    assert "Unknown drift method 'kss'" in message(
        "/v1/models/churn/drift/options", "PUT", json={"numeric": "kss"}
    )
    assert "'threshold' parameter of AlertRule must be a number in (0, 1]" in message(
        "/v1/models/churn/alerts",
        "POST",
        json={"rule": "x", "metric": "drift_share", "threshold": 2},
    )
    client.set_drift_options("churn", {"features": {"age": "jensenshannon"}})
    with pytest.raises(InvalidInputError, match="'jensenshannon' works on categorical"):
        client.drift("churn")
    assert client.set_drift_options("churn", {}) == client.drift_options("churn")
    with pytest.raises(NotFoundError, match="no alert rule 'nope'"):
        client.delete_alert("churn", "nope")
    with pytest.raises(NotFoundError):
        client.drift("churn", version=9)


class Hooks(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hooks.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_drift_alert_rolls_production_back_once(world: World) -> None:
    client, X = world.client, world.X
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    try:
        rule = client.set_alert(
            "loan",
            "drift",
            metric="drift_share",
            threshold=0.1,
            window_seconds=60,
            min_count=100,
            rollback=True,
            webhook=f"http://127.0.0.1:{hooks.server_address[1]}/hook",
        )
        assert [r.name for r in client.alerts("loan")] == ["drift"]
        shifted = X.iloc[2000:2300].copy()
        shifted[["age", "spend"]] += 2 * X[["age", "spend"]].std()
        send(client, "loan", shifted)
        rolled = eventually(lambda: client.events("loan", action="auto-rollback"))
        time.sleep(1.0)  # several more rounds of both workers: nothing more may happen
        assert len(rolled) == 1
        assert len(client.events("loan", action="auto-rollback")) == 1
        [alert] = client.events("loan", action="alert")
        assert (alert.to_version, alert.actor) == (2, "deploykit-monitor")
        assert alert.details["rule"] == "drift"
        assert alert.details["value"] == pytest.approx(0.4)  # age and spend, of five
        assert alert.details["drifted_features"] == ["age", "spend"]
        assert 100 <= alert.details["count"] <= 300  # fired once min_count rows were logged
        assert rolled[0].reason == alert.reason
        assert alert.reason.startswith("alert 'drift': drift_share 0.4 > 0.1 over the last 60 s")
        assert (rolled[0].from_version, rolled[0].to_version) == (2, 1)
        assert client.model("loan").production == 1
        assert eventually(lambda: client.predict("loan", X.iloc[:1]).version == 1)
        assert eventually(lambda: Hooks.received)
        [hook] = Hooks.received
        assert hook["alert"]["rule"] == "drift"
        assert hook["rollback"] == {"done": True, "from": 2, "to": 1}
        [fired] = client.alerts("loan")
        assert fired.last_fired_at is not None
        assert (fired.id, fired.metric) == (rule.id, "drift_share")
        assert client.delete_alert("loan", "drift").name == "drift"
        assert client.alerts("loan") == []
    finally:
        hooks.shutdown()
        hooks.server_close()
