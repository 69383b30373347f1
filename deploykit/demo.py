"""A demo model with some history, so a new install has something to look at.

``seed_demo`` trains two classifiers on scikit-learn's bundled breast-cancer
data (no download), pushes both with their evaluation, deploys the better one
and leaves a rollback in the audit log. :mod:`deploykit.demo_traffic`
(``deploykit demo``) then serves it and plays live traffic through a real server:
metrics over time, drift on some features, an alert and the auto-rollback it triggers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from deploykit.errors import NotFoundError, PickleWarning
from deploykit.records import ModelInfo

DEMO_MODEL = "demo-breast-cancer"
#: The file under the home that ``deploykit up`` writes: a predict request for the demo model.
SAMPLE_REQUEST = "demo-request.json"


def sample_request(rows: int = 2) -> dict[str, Any]:
    """A predict request body for the demo model: ``rows`` rows of the breast-cancer data
    (its 30 columns) in MLflow's ``dataframe_split`` format."""
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    picked = X.iloc[:rows]
    return {"dataframe_split": {"columns": list(picked.columns), "data": picked.values.tolist()}}


def write_sample_request(home: str | Path) -> Path:
    """Write :func:`sample_request` to ``<home>/demo-request.json`` (what the banner of
    ``deploykit up`` and the README send with curl); return its path."""
    path = Path(home) / SAMPLE_REQUEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sample_request()) + "\n")
    return path


def seed_demo(registry: Any, *, name: str = DEMO_MODEL) -> ModelInfo:
    """Push and deploy the demo model unless ``name`` exists already; return its info."""
    try:
        return registry.model(name)
    except NotFoundError:
        pass
    # The demo's own models are pickles deploykit itself made: warning the user who just
    # typed `deploykit up` about them would read as a crash, not as advice.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        return _seed(registry, name)


def _seed(registry: Any, name: str) -> ModelInfo:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deploykit.evaluation import evaluate

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    linear.fit(X_train, y_train)
    report = evaluate(linear, X_test, y_test, against=registry, name=name)
    first = registry.push(
        linear, name, X=X_train, evaluation=report, description="Scaled logistic regression"
    )
    registry.deploy(name, first.version, reason="first release")

    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    report = evaluate(forest, X_test, y_test, against=registry, name=name)
    second = registry.push(
        forest,
        name,
        X=X_train,
        evaluation=report,
        gate="accuracy>=0.9",
        description="Random forest, 50 trees",
    )
    registry.deploy(name, second.version, reason="try the forest")
    registry.rollback(name, reason="demo: the linear model is better calibrated")
    registry.deploy(name, second.version, reason="demo: forest back in production")
    return registry.model(name)
