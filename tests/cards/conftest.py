"""A registry in a temporary home, and a churn-like model with 30 features, for the card tests."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.settings import Settings


def settings_for(home: Path, actor: str = "ana") -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor=actor
    )


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with Registry(settings_for(tmp_path / "home")) as registry:
        yield registry


@pytest.fixture(scope="session")
def churn_data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 30)), columns=[f"x{i}" for i in range(30)])
    X["region"] = np.where(rng.random(400) > 0.5, "north", "south")
    y = pd.Series(((X.x0 + X.x1 + rng.normal(scale=0.5, size=400)) > 0).astype(int))
    return X, y


@pytest.fixture(scope="session")
def churn_model(churn_data: tuple[pd.DataFrame, pd.Series]) -> Any:
    X, y = churn_data
    return LogisticRegression(max_iter=500).fit(X.drop(columns="region"), y)


def push_quietly(reg: Any, model: Any, name: str = "churn", **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickle note, said once per session
        return reg.push(model, name, **options)
