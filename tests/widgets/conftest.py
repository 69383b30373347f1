"""Widgets driven through their methods, on a fresh home folder, without a browser or kernel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from deploykit.ui.session import Session


@pytest.fixture(autouse=True)
def deploykit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the client's downloads
    return home


@pytest.fixture
def session(deploykit_home: Path) -> Iterator[Session]:
    s = Session()
    yield s
    s.close()


@pytest.fixture(scope="session")
def fitted() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train,
        "y_test": y_test,
        "model": model.fit(X_train, y_train),
        "stump": DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train),
    }


@pytest.fixture
def namespace(fitted: dict[str, Any]) -> dict[str, Any]:
    """A notebook's variables: data, two fitted models, an unfitted one, and noise."""
    return {**fitted, "untrained": LogisticRegression(), "threshold": 0.5, "_private": 1}


@pytest.fixture
def churn(session: Session, fitted: dict[str, Any]) -> Session:
    """``churn`` with version 1 (logistic regression) and 2 (stump) in production."""
    reg = session.backend
    reg.push(fitted["model"], "churn", X=fitted["X_train"])
    reg.deploy("churn", 1)
    reg.push(fitted["stump"], "churn", X=fitted["X_train"])
    reg.deploy("churn", 2)
    return session
