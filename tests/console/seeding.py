"""The console tests' server: a real deploykit server (LiveServer) with a few models.

``iris``: v1 (logistic regression), v2 and v3 (trees), deployed in turn, production on v3,
pushed with training data (so drift has a reference), v3 with an evaluation (so its accuracy
is estimated from scores), a few predictions served and logged.
``draft``: v1, never deployed.
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
from deploykit.evaluation import evaluate
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings


def home_settings(home: Path) -> Settings:
    # Never the user's ~/.deploykit, whatever the environment says.
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


@contextmanager
def fleet(home: Path) -> Iterator[LiveServer]:
    """A LiveServer on ``home`` with the models above; the iris traffic already counted."""
    settings = home_settings(home)
    X, y = load_iris(return_X_y=True, as_frame=True)
    with Registry(settings) as registry:
        registry.push(LogisticRegression(max_iter=300).fit(X, y), "iris", X=X, deploy=True)
        for depth in (2, 3):
            tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
            registry.push(
                tree,
                "iris",
                X=X,
                deploy=True,
                description=f"tree, depth {depth}",
                # v3 keeps calibration evidence: the page estimates its accuracy from scores
                evaluation=evaluate(tree, X, y) if depth == 3 else None,
            )
        registry.push(LogisticRegression(max_iter=300).fit(X, y), "draft", X=X)
    config = ServerConfig(
        telemetry_flush_seconds=0.2, log_flush_seconds=0.3, alert_interval_seconds=0
    )
    with LiveServer(settings, config) as server, Client(server.url, token=server.token) as c:
        for i in range(5):
            c.predict("iris", X.sample(20, random_state=i))
        deadline = time.monotonic() + 15
        while c.metrics("iris", window=600)["total"]["requests"] < 5:
            assert time.monotonic() < deadline, "the predictions never reached the telemetry"
            time.sleep(0.1)
        yield server
