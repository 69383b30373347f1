"""Models for the sidebar tests, on a real deploykit server (also used by tests/ui).

``iris`` (v1, v2; production v2; 60 rows predicted and logged, so it has
requests/s, p95 latency and a drift report), ``churn`` (v1, v2;
production v2; rollback tests move it) and ``draft`` (v1, never deployed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.client import Client
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings


def home_settings(home: Path) -> Settings:
    # Never the user's ~/.deploykit, whatever the environment says.
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


def seed(registry: Registry) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    first = LogisticRegression(max_iter=300).fit(X, y)
    second = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    for name in ("iris", "churn"):
        registry.push(first, name, X=X, deploy=True, description="baseline")
        registry.push(second, name, X=X, deploy=True, description="a tree")
    registry.push(first, "draft", X=X)


@contextmanager
def seeded_server(home: Path) -> Iterator[LiveServer]:
    """A LiveServer on ``home`` with the models above, the iris predict already counted."""
    settings = home_settings(home)
    with Registry(settings) as registry:
        seed(registry)
    config = ServerConfig(telemetry_flush_seconds=0.2, log_flush_seconds=0.2)
    with LiveServer(settings, config) as server:
        with Client(server.url, token=server.token) as client:
            X, _ = load_iris(return_X_y=True, as_frame=True)
            client.predict("iris", X.sample(60, random_state=0))
            deadline = time.monotonic() + 10
            while (
                client.metrics("iris")["total"]["requests"] < 1
                or client.drift("iris").overall.rows < 60
            ):
                assert time.monotonic() < deadline, "the predict never reached the monitoring"
                time.sleep(0.1)
        yield server
