"""Shared by the progressive-delivery benchmarks: a registry with two versions, a server."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.registry import Registry
from deploykit.settings import Settings

FEATURES = [f"f{i}" for i in range(20)]


def registry_with_two_versions(name: str = "churn") -> tuple[Settings, pd.DataFrame]:
    """A fresh registry: v1 LogisticRegression in production, v2 a depth-8 tree."""
    home = Path(tempfile.mkdtemp(prefix="dk-progressive-"))
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="bench"
    )
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    frame = pd.DataFrame(X, columns=FEATURES)
    with Registry(settings) as reg:
        reg.push(LogisticRegression(max_iter=1000).fit(frame, y), name, X=frame, format="skops")
        reg.push(
            DecisionTreeClassifier(max_depth=8, random_state=0).fit(frame, y),
            name,
            X=frame,
            format="skops",
        )
        reg.deploy(name, 1)
    return settings, frame
