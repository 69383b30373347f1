"""One real server (uvicorn, subprocess, loopback, free port) shared by a test module.

Models served: ``lr`` (LogisticRegression fitted on a DataFrame: predicted on an
ndarray), ``rf`` (RandomForest fitted on an ndarray: micro-batched in a thread),
``mixed`` (a pipeline with a string column: predicted on a DataFrame) and
``draft`` (pushed, never deployed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class Served:
    url: str
    token: str
    settings: Settings
    registry: Registry
    X: pd.DataFrame
    mixed_frame: pd.DataFrame
    models: dict[str, Any]
    server: LiveServer

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30, **kwargs)


def settings_for(home: Path) -> Settings:
    # Never the user's ~/.deploykit, whatever the environment says.
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


@pytest.fixture(scope="session")
def training() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    mixed = frame[["age", "tenure"]].copy()
    mixed["plan"] = np.where(y == 1, "gold", "basic")
    mixed.loc[::7, "plan"] = "silver"
    return frame, y, mixed


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    training: tuple[pd.DataFrame, np.ndarray, pd.DataFrame],
) -> Iterator[Served]:
    X, y, mixed_frame = training
    home = tmp_path_factory.mktemp("server-home")
    settings = settings_for(home)
    registry = Registry(settings)
    lr = LogisticRegression().fit(X, y)
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    mixed = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(mixed_frame, y)
    registry.push(lr, "lr", X=X, deploy=True)
    registry.push(rf, "rf", X=X.to_numpy(), deploy=True)
    registry.push(mixed, "mixed", X=mixed_frame, deploy=True)
    registry.push(lr, "draft", X=X)
    # small enough to reach in a test; a push's metadata (profile, lineage, card) fits
    config = ServerConfig(max_body_bytes=128 * 1024, log_flush_seconds=0.5)
    with LiveServer(settings, config) as server:
        assert server.token is not None
        yield Served(
            server.url,
            server.token,
            settings,
            registry,
            X,
            mixed_frame,
            {"lr": lr, "rf": rf, "mixed": mixed},
            server,
        )
    registry.close()


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
