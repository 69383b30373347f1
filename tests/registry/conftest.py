"""Every registry test runs against a fresh home folder under tmp_path, never ~/.deploykit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry


@pytest.fixture(autouse=True)
def deploykit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    return home


@pytest.fixture
def reg() -> Iterator[Registry]:
    with Registry() as registry:
        yield registry


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    return pd.DataFrame(X, columns=["age", "tenure", "calls", "spend"]), y


@pytest.fixture(scope="session")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> LogisticRegression:
    X, y = data
    return LogisticRegression(C=0.5).fit(X, y)
