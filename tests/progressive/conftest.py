"""A real 3-worker server (uvicorn subprocess, loopback) with two versions of one model."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.client import Client
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend"]


@dataclass
class Trial:
    url: str
    token: str
    registry: Registry
    client: Client
    X: pd.DataFrame
    y: np.ndarray
    server: LiveServer

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def fresh(self, name: str) -> None:
        """Model ``name``: v1 a logistic regression (production), v2 a shallow tree, v3
        a model that predicts one class whatever comes."""
        reg = self.registry
        reg.push(LogisticRegression().fit(self.X, self.y), name, X=self.X, format="skops")
        reg.push(
            DecisionTreeClassifier(max_depth=2, random_state=0).fit(self.X, self.y),
            name,
            X=self.X,
            format="skops",
        )
        constant = DecisionTreeClassifier(max_depth=1).fit(self.X, np.zeros(len(self.y), int))
        reg.push(constant, name, X=self.X, format="skops")
        reg.deploy(name, 1)


@pytest.fixture(scope="package")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trial]:
    X, y = make_classification(n_samples=400, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home = tmp_path_factory.mktemp("progressive")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )
    registry = Registry(settings)
    config = ServerConfig(
        workers=3,
        log_flush_seconds=0.5,
        telemetry_flush_seconds=0.5,
        alert_interval_seconds=1.0,
    )
    with LiveServer(settings, config) as server:
        assert server.token is not None
        client = Client(server.url, token=server.token, settings=settings)
        yield Trial(server.url, server.token, registry, client, frame, y, server)
        client.close()
    registry.close()


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)


def worker_clients(
    url: str, count: int, *, workers: int = 3, timeout: float = 20.0
) -> dict[int, list[httpx.Client]]:
    """Keep-alive clients grouped by the worker (pid) their connection landed on: at
    least ``count``, and more until every one of ``workers`` has one (a worker busy
    loading a model accepts none for a while; the kernel hands connections to the idle)."""
    by_pid: dict[int, list[httpx.Client]] = {}
    deadline = time.monotonic() + timeout
    opened = 0
    while opened < count or (len(by_pid) < workers and time.monotonic() < deadline):
        c = httpx.Client(base_url=url, timeout=30)
        pid = c.get("/healthz").json()["pid"]
        by_pid.setdefault(pid, []).append(c)
        opened += 1
        if opened >= count and len(by_pid) < workers:
            time.sleep(0.05)
    return by_pid
